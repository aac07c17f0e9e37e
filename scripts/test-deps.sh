#!/usr/bin/env bash
# Installs what the tests need: Debian dcmtk, tcpdump, tshark, tmux, and the other DICOM stacks the
# peer tests run (orthanc, libgdcm-tools, ctn, odil, python3-odil) with apt-get when missing, and the
# package with its test extras (pip). The README's test command (and so .ci/run) runs it before pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# DCMTK by its path: pynetdicom installs Python scripts with the same names (storescu, echoscu, ...).
[ -x /usr/bin/storescu ] || need+=(dcmtk)
# Other DICOM stacks (tests/test_peers_live.py): Orthanc, GDCM's gdcmscu, the CTN tools, Odil.
# Odil's Python bindings are for Debian's /usr/bin/python3, so they are checked by their file.
[ -x /usr/sbin/Orthanc ] || need+=(orthanc)
[ -x /usr/bin/gdcmscu ] || need+=(libgdcm-tools)
[ -x /usr/bin/simple_storage ] || need+=(ctn)
[ -x /usr/bin/odil ] || need+=(odil)
ls /usr/lib/python3/dist-packages/odil/__init__.py >/dev/null 2>&1 || need+=(python3-odil)
for tool in tcpdump:tcpdump tshark:tshark tmux:tmux; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections || true
  # No service is started here (no systemd in CI containers; policy-rc.d may forbid it): the tests
  # start Orthanc by hand with their own configuration.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The HTML report's browser test (tests/test_report_browser.py): Debian's chromium, run headless. Not fatal
# where it cannot be installed (Ubuntu ships it only as a snap): that test is then skipped, saying why.
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian package: chromium"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; } \
    || echo "chromium could not be installed: tests/test_report_browser.py will be skipped"
fi

# The tests run in the project's own virtual environment (.venv), as the README's first command does:
# Debian and Ubuntu refuse `pip install` into the system Python (PEP 668, externally-managed-environment).
if [ ! -x .venv/bin/python ]; then
  if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    echo "Installing Debian packages: python3-venv python${pyver}-venv"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv "python${pyver}-venv" >/dev/null 2>&1 \
      || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"

# The Spark SQL example of docs/tables.md (tests/test_tables_spark.py): PySpark (the spark extra) needs a
# Java runtime. Not fatal: that test is skipped, saying why, where Java cannot be installed.
if ! command -v java >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian package: default-jre-headless"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq default-jre-headless >/dev/null; } \
    || echo "Java could not be installed: tests/test_tables_spark.py will be skipped"
fi
