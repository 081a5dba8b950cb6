#!/usr/bin/env bash
# CycloneDX SBOM (JSON, spec 1.6) of every package pinned in requirements.lock, with Pegasus
# (pyproject.toml) as the root component. Offline: it reads those two files and fetches
# nothing. `make sbom` runs it; tests/unit/test_supply_chain_sbom.py checks its output.
# Usage: scripts/sbom.sh [OUTPUT]   (default out/sbom.cdx.json, relative to the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/sbom.cdx.json}
cyclonedx=${CYCLONEDX_PY:-.venv/bin/cyclonedx-py}
mkdir -p "$(dirname "$out")"
# The root component's dependency graph is left out on purpose (a lock is flat); silence
# cyclonedx's warning about it, nothing else.
PYTHONWARNINGS="ignore:The Component this BOM is describing:UserWarning" \
  "$cyclonedx" requirements requirements.lock \
  --pyproject pyproject.toml --mc-type application \
  --spec-version 1.6 --output-format JSON --output-reproducible --validate \
  --output-file "$out"
echo "SBOM of requirements.lock: $out"
