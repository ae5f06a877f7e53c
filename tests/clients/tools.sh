#!/usr/bin/env bash
# Installs (once) the command-line S3 clients weir serve is tested with,
# from Debian's packages: rclone. Used by crates/weir-server/tests.
set -euo pipefail
if command -v rclone >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "rclone is missing and only root can install it: apt-get install rclone" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq rclone >&2
