#!/usr/bin/env bash
# Installs what the tests need: Debian dcmtk, tcpdump, tshark, tmux (apt-get, when missing) and the
# package with its test extras (pip). The README's test command (and so .ci/run) runs it before pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# DCMTK by its path: pynetdicom installs Python scripts with the same names (storescu, echoscu, ...).
[ -x /usr/bin/storescu ] || need+=(dcmtk)
for tool in tcpdump:tcpdump tshark:tshark tmux:tmux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"
