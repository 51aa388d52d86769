#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 by
# default), with the bundle unzipped in $ROOT/source. ROOT is $GRADESCOPE_ROOT, default
# /autograder (the instructor guide's "Try the bundle locally" uses a throw-away tree). It
# installs what run_autograder needs:
#   - Python 3.11 (the pinned packages need it) and bubblewrap (the harness's sandbox);
#   - a virtual environment in $ROOT/venv with requirements.txt + constraints.txt and the
#     course, READABLE BY EVERY USER: where bubblewrap cannot start (Gradescope's containers
#     usually refuse its namespaces) each harness job runs as a user id of its own, which
#     must be able to run this Python; otherwise the grader refuses to grade (0 points, with
#     the reason) unless the bundle was built with --allow-unsandboxed. A Python whose
#     installation other users cannot read (a pyenv under /root) is never used here;
#   - for chapters that read Fashion-MNIST: Debian's dataset-fashion-mnist where apt has it,
#     else torchvision's download into $ROOT/data (run_autograder points to it).
# PyTorch's wheels: TORCH_INDEX_URL (default https://download.pytorch.org/whl/cpu, PyTorch's
# CPU-only builds: Gradescope has no GPU, and they are a fifth of the size); set it to "pypi"
# where that index cannot be reached, to take PyPI's builds of the same pinned versions
# (larger, with CUDA libraries the CPU never uses; the grades are the same).
set -euo pipefail
ROOT=${GRADESCOPE_ROOT:-/autograder}
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
FASHION_MNIST=@FASHION_MNIST@  # 1 when this chapter reads Fashion-MNIST (written by the bundle)
export DEBIAN_FRONTEND=noninteractive

if command -v apt-get >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq bubblewrap python3.11 python3.11-venv >/dev/null \
    || apt-get install -y -qq bubblewrap python3-venv >/dev/null
  if [ "$FASHION_MNIST" = 1 ]; then
    apt-get install -y -qq dataset-fashion-mnist >/dev/null \
      || echo "== no dataset-fashion-mnist package here; torchvision downloads it below"
  fi
fi

# the system's Python first: its installation is readable by every user
PYTHON=${PYTHON:-$(command -v /usr/bin/python3.11 || command -v python3.11 || command -v python3)}
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
INDEX=()
if [ "$TORCH_INDEX_URL" != pypi ]; then
  INDEX=(--extra-index-url "$TORCH_INDEX_URL")
fi
"$VENV/bin/python" -m pip install -q "${INDEX[@]}" \
  -r "$SOURCE/requirements.txt" -c "$SOURCE/constraints.txt"
"$VENV/bin/python" -m pip install -q --no-deps -e "$SOURCE"

if [ "$FASHION_MNIST" = 1 ]; then
  COURSE_DATA_HOME="$ROOT/data" "$VENV/bin/python" -c \
    "from course.data import fashion_mnist_dir; print('== Fashion-MNIST in', fashion_mnist_dir())"
fi

# what the harness's own user id needs: the venv and the data readable, the way to them open
chmod -R go-w,o+rX "$VENV"
[ -d "$ROOT/data" ] && chmod -R o+rX "$ROOT/data"
chmod o+x "$ROOT"
if command -v setpriv >/dev/null \
   && ! setpriv --reuid=65534 --regid=65534 --clear-groups "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "== WARNING: another user cannot run $VENV/bin/python (is $PYTHON's installation readable"
  echo "   by every user?): where bubblewrap cannot start, the grader will refuse to grade"
fi
