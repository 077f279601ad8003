#!/usr/bin/env bash
# The project's test command: build, lint, then every test (unit, golden, real sshd, built binary).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift format lint --strict --recursive Sources Tests Package.swift
swift test --skip-build
