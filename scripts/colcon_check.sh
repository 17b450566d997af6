#!/usr/bin/env bash
# `colcon build` and `colcon test` of this package in a throw-away workspace, against the PyPI ROS wheels of
# the development environment (make test runs it after the suite). colcon test runs test/installed only:
# the installed executables, share files and a node started from the install, not the whole suite again.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
workspace=$(mktemp -d)
trap 'rm -rf "$workspace"' EXIT
mkdir -p "$workspace/src/splitee_ros"
# the tracked files (and the working tree's versions of them), as a checkout would have them
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$workspace/src/splitee_ros")

cd "$workspace"
colcon build --event-handlers console_direct-
colcon test --event-handlers console_direct+ --pytest-args test/installed -p no:cacheprovider
colcon test-result --verbose
