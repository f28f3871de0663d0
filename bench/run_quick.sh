#!/bin/sh
# CI step: every benchmark once at quick sizes (none rots). See bench/run_quick.py.
set -e
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" bench/run_quick.py "$@"
