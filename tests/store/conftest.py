from tests.s3fixtures import s3_bucket, s3_dataset, s3_env, s3_server

__all__ = ["s3_bucket", "s3_dataset", "s3_env", "s3_server"]
