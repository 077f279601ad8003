#!/usr/bin/env bash
# The project's test command: build, lint, build EODCore's documentation (DocC; a broken link or an
# undocumented parameter fails it), then every test (unit, golden, real sshd, built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift format lint --strict --recursive Sources Tests Package.swift
swift package generate-documentation --target EODCore --warnings-as-errors
swift test --skip-build
