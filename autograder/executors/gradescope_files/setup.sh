#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 by
# default), with the bundle unzipped in /autograder/source. It installs what
# run_autograder needs:
#   - Python 3.11 (the pinned packages need it) and bubblewrap (the harness's sandbox);
#   - a virtual environment in /autograder/venv with requirements.txt + constraints.txt
#     (PyTorch's CPU builds of the pinned versions: Gradescope has no GPU) and the course;
#   - for chapters that read Fashion-MNIST: Debian's dataset-fashion-mnist where apt has it,
#     else torchvision's download into /autograder/data (run_autograder points to it).
set -euo pipefail
SOURCE=/autograder/source
VENV=/autograder/venv
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

PYTHON=$(command -v python3.11 || command -v python3)
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q --extra-index-url https://download.pytorch.org/whl/cpu \
  -r "$SOURCE/requirements.txt" -c "$SOURCE/constraints.txt"
"$VENV/bin/python" -m pip install -q --no-deps -e "$SOURCE"

if [ "$FASHION_MNIST" = 1 ]; then
  COURSE_DATA_HOME=/autograder/data "$VENV/bin/python" -c \
    "from course.data import fashion_mnist_dir; print('== Fashion-MNIST in', fashion_mnist_dir())"
fi
