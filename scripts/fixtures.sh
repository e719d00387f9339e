#!/usr/bin/env bash
# Builds test fixtures that need downloads into $ELFUSE_CACHE (default ~/.cache/elfuse), reused when present.
set -euo pipefail
CACHE=${ELFUSE_CACHE:-$HOME/.cache/elfuse}
mkdir -p "$CACHE"
