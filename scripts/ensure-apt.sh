#!/usr/bin/env bash
# Install the Debian packages the test suite needs when they are missing:
# espeak-ng synthesises the speech fixtures; chromium runs the browser tests (driven by
# Playwright with executable_path, never a downloaded browser); prometheus (promtool) and
# prometheus-alertmanager (amtool) check and test the alert rules and run the alert drill;
# fonts-dejavu-core gives the PDF export wide Unicode coverage; postgresql-client gives
# pg_dump/pg_restore/pg_amcheck to `pegasus backup` on PostgreSQL (the server's own major
# version is what the machine's PostgreSQL installs alongside it).
set -euo pipefail
missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v chromium >/dev/null || missing+=(chromium)
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v pg_dump >/dev/null || missing+=(postgresql-client)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
