# Source this file for a shell with the development environment: `. ./env.sh`
# (run `make setup` first). Gives python, pytest, ruff, splitee and the ROS 2 libraries.
_splitee_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
_splitee_venv=${SPLITEE_VENV:-$_splitee_root/.venv}
# shellcheck disable=SC1091
. "$_splitee_venv/bin/activate"
_splitee_site=$("$_splitee_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export AMENT_PREFIX_PATH=$_splitee_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
export LD_LIBRARY_PATH=$_splitee_venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONPATH=$_splitee_site${PYTHONPATH:+:$PYTHONPATH}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
unset _splitee_root _splitee_venv _splitee_site
