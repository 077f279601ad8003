#!/usr/bin/env bash
# Installs the system libraries and tools the project needs (Debian 12), as root.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libssh2-1-dev libsqlite3-dev zlib1g-dev libdeflate-dev openssh-server openssh-client \
  sqlite3 util-linux ca-certificates pkg-config python3 pigz gzip tar tmux postgresql-15 >/dev/null
$SUDO mkdir -p /run/sshd
# The Kubernetes manifests' validator (deploy/kubernetes/, checked by KubernetesManifestTests) and
# Prometheus's Python parser (the metrics file, checked by MetricsFileTests).
python3 -m pip install -q kubernetes-validate prometheus_client
