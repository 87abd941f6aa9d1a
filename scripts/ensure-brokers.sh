#!/usr/bin/env bash
# Make sure RabbitMQ (127.0.0.1:5672) and Mosquitto (127.0.0.1:1883) answer.
# Start them if installed, install them with apt-get if missing and root, otherwise fail with instructions.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 tries=${3:-60}
  for _ in $(seq "$tries"); do
    port_open "$port" && return 0
    sleep 1
  done
  echo "ensure-brokers: $name did not open 127.0.0.1:$port" >&2
  return 1
}

install_pkgs() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "ensure-brokers: $* missing and not root. Install with: sudo apt-get install -y $*" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

if ! port_open 5672; then
  command -v rabbitmq-server >/dev/null || install_pkgs rabbitmq-server
  echo "ensure-brokers: starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_port 5672 RabbitMQ 90
fi
# The management CLI is used by the tests (close_all_connections); wait until the node answers it too.
for _ in $(seq 60); do
  rabbitmqctl -q status >/dev/null 2>&1 && break
  sleep 1
done

if ! port_open 1883; then
  command -v mosquitto >/dev/null || install_pkgs mosquitto
  echo "ensure-brokers: starting Mosquitto"
  if [[ -f /etc/mosquitto/mosquitto.conf ]]; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  else
    mosquitto -d -p 1883
  fi
  wait_port 1883 Mosquitto 30
fi
echo "ensure-brokers: RabbitMQ 127.0.0.1:5672 and Mosquitto 127.0.0.1:1883 are up"
