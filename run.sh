#!/usr/bin/env bash
# The course's commands. Each one sets up what it needs first (quick when nothing changed).
#
#   ./run.sh book              release changed chapters (cached), build the HTML book into _build/html
#   ./run.sh test [ARGS]       run the test suite (ARGS go to pytest)
#   ./run.sh release [CH|all]  regenerate chapters/ from solutions/
#   ./run.sh setup             only the set-up: .venv, pinned packages, Fashion-MNIST
#   ./run.sh grade ARGS        grade a class: python -m autograder grade ARGS
#   ./run.sh check NOTEBOOK    a notebook's self-checks as a table
#   ./run.sh lab [DIR]         a student's JupyterLab on chapters/ (Validate on, instructor tools off)
#   ./run.sh gradescope CH [ARGS]  write CH's Gradescope autograder bundle: python -m autograder gradescope
#   ./run.sh formgrader [ARGS] the instructor's JupyterLab, opening at nbgrader's formgrader (as root too)
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY="$VENV/bin/python"
export PATH="$PWD/$VENV/bin:$PATH"  # nbgrader calls alembic and jupyter from here

setup() {
  local stamp="$VENV/.course-stamp" want
  want=$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -c1-16)
  if [ ! -x "$PY" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== setting up $VENV (pinned packages; a few minutes the first time)"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -r requirements.txt -c constraints.txt
    "$PY" -m pip install -q --no-deps -e .
    echo "$want" > "$stamp"
  fi
  fashion_mnist
  a11y_tools
}

a11y_tools() {
  # axe-core, pinned by .a11y/package-lock.json, for tests/test_a11y.py (Chromium comes from
  # Debian above; Playwright from requirements.txt drives it). Without npm the test says so.
  [ -f .a11y/node_modules/axe-core/axe.min.js ] && return 0
  if command -v npm >/dev/null; then
    echo "== installing axe-core into .a11y (npm ci)"
    npm ci --prefix .a11y --no-audit --no-fund --silent || echo "== axe-core not installed: tests/test_a11y.py will fail"
  fi
}

fashion_mnist() {
  # Debian's dataset-fashion-mnist (the official files) and bubblewrap (the grader's
  # sandbox) where apt is available; elsewhere course.data falls back to torchvision's
  # download on first use, and the grader runs without namespaces.
  local have_data=0
  { [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -n "${FASHION_MNIST_DIR:-}" ]; } && have_data=1
  [ "$have_data" = 1 ] && command -v bwrap >/dev/null && command -v node >/dev/null \
    && command -v npm >/dev/null && command -v chromium >/dev/null && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    # nodejs: the tests measure the book's display equations with its MathJax;
    # chromium and npm: tests/test_a11y.py audits the book with axe-core in Chromium
    local extra=(); command -v node >/dev/null || extra=(nodejs)
    command -v npm >/dev/null || extra+=(npm)
    command -v chromium >/dev/null || extra+=(chromium)
    echo "== installing Debian's dataset-fashion-mnist, bubblewrap ${extra[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist bubblewrap "${extra[@]}" >/dev/null
  else
    echo "== Fashion-MNIST: not installed system-wide; it will be downloaded by torchvision on first use"
  fi
}

student_jupyter() {
  # A student's Jupyter: nbgrader's documented switches turn off the instructor's extensions
  # (formgrader, create assignment, course list) in a configuration folder of its own;
  # Validate and the assignment list stay. The venv's own configuration, which instructors
  # use, keeps everything.
  export JUPYTER_CONFIG_DIR="$PWD/.jupyter-student"
  [ -f "$JUPYTER_CONFIG_DIR/.configured" ] && return 0
  mkdir -p "$JUPYTER_CONFIG_DIR"
  # `jupyter server extension disable --user` refuses extensions enabled at the venv's level
  # (jupyter_server checks the user level only), so its setting is written directly.
  cat > "$JUPYTER_CONFIG_DIR/jupyter_server_config.json" <<'JSON'
{"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": false,
                                       "nbgrader.server_extensions.course_list": false}}}
JSON
  for ext in formgrader create-assignment course-list; do
    "$VENV/bin/jupyter" labextension disable --level=user "@jupyter/nbgrader:$ext" >/dev/null 2>&1
    "$VENV/bin/jupyter" labextension lock --level=user "@jupyter/nbgrader:$ext" >/dev/null 2>&1 || true
  done
  touch "$JUPYTER_CONFIG_DIR/.configured"
}

cmd=${1:-help}; shift || true
case "$cmd" in
  setup)   setup ;;
  book)    setup; "$PY" -m course.release all; "$VENV/bin/jupyter-book" build . -W --keep-going "$@" ;;
  test)    setup  # one test file per core (at most 4): the suite waits on subprocesses much of its time
           n=$(nproc); [ "$n" -gt 4 ] && n=4
           "$VENV/bin/pytest" -n "$n" --dist loadfile "$@" ;;
  release) setup; "$PY" -m course.release "${@:-all}" ;;
  grade)   setup; "$PY" -m autograder grade "$@" ;;
  check)   setup; "$PY" -m autograder check "$@" ;;
  gradescope) setup; "$PY" -m autograder gradescope "$@" ;;
  lab)     setup; student_jupyter
           root=(); [ "$(id -u)" = 0 ] && root=(--allow-root)  # Jupyter refuses root without it
           dir=chapters/; [ $# -gt 0 ] && [ "${1#-}" = "$1" ] && { dir=$1; shift; }
           exec "$VENV/bin/jupyter" lab "$dir" "${root[@]}" "$@" ;;
  formgrader) setup  # the venv's own Jupyter configuration: nbgrader's instructor tools on
           root=(); [ "$(id -u)" = 0 ] && root=(--allow-root)
           exec "$VENV/bin/jupyter" lab --ip=127.0.0.1 --ServerApp.default_url=/formgrader "${root[@]}" "$@" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
