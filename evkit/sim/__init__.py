"""Device simulators (pika / MQTT publishers of realistic fleets)."""
