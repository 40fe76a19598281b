#!/bin/sh
# Debian's `prometheus` package (prometheus and promtool), which `pixelmill stack up
# --with-prometheus` and tests/observability run. `make prometheus` calls this before the tests.
#
# Idempotent: nothing happens when promtool is already there. pixelmill runs Prometheus with its
# own configuration and data on 127.0.0.1:19090, never the package's system service (on :9090,
# reading /etc/prometheus): if installing the package started that service, it is stopped and
# disabled here.
set -eu

PROMTOOL="${PROMTOOL:-promtool}"
if command -v "$PROMTOOL" >/dev/null 2>&1; then
    echo "prometheus: $(command -v "$PROMTOOL") is installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "prometheus: promtool is missing; as root, run: apt-get install prometheus" >&2
        exit 1
    fi
    SUDO="sudo"
fi

echo "prometheus: promtool is missing; installing Debian's prometheus package"
echo "+ apt-get update"
$SUDO apt-get update
echo "+ apt-get install -y --no-install-recommends prometheus"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus

# The package's own service: never ours. Only the instance of its pid file is stopped.
if [ -d /run/systemd/system ]; then
    echo "+ systemctl disable --now prometheus.service"
    $SUDO systemctl disable --now prometheus.service || true
elif [ -x /etc/init.d/prometheus ]; then
    if [ -s /run/prometheus/prometheus.pid ]; then
        echo "+ /etc/init.d/prometheus stop"
        $SUDO /etc/init.d/prometheus stop || true
    fi
    echo "+ update-rc.d prometheus disable"
    $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null 2>&1 || {
    echo "prometheus: the package is installed but promtool is not on PATH" >&2
    exit 1
}
echo "prometheus: installed $(command -v prometheus) and $(command -v promtool)"
