#!/usr/bin/env bash
# docs/run.sh: installs what the guides need, executes them headless and renders their Markdown.
#
#   docs/run.sh                          every docs/*.ipynb
#   docs/run.sh 00-quickstart [...]      only these (a name, a name.ipynb or a path)
#   docs/run.sh --check                  execute nothing: check the guides as they are (below)
#
# Runs from the repository root or from docs/. On a Debian machine it installs, once:
#   - Debian's jupyter-notebook, jupyter-nbconvert, jupyter-client and python3-ipykernel, and
#     graphviz (guides 05, 11 and 13 draw graphs with its dot program) (as root; otherwise it says
#     what to install);
#   - GoNB (the Go kernel for Jupyter) and goimports, each built inside a throw-away Go module and
#     kept under ${XDG_CACHE_HOME:-$HOME/.cache}/unroll-docs, so a second run builds nothing;
#   - OpenMPI (Debian's libopenmpi-dev and openmpi-bin, where mpirun is missing): guide 14 runs
#     programs built with -tags mpi under mpirun;
#   - Node.js (Debian's nodejs and npm, where node is missing) and onnxruntime-node 1.16.3 from
#     the npm registry, kept under the same cache folder: guide 15 runs an exported model in
#     ONNX Runtime;
#   - the GoNB kernel, registered with Jupyter (gonb --install), with goimports on its PATH and
#     onnxruntime-node on its NODE_PATH.
# Then docs/tools/notebooks.py executes each notebook in a fresh kernel (UNROLL_DOCS_TIMEOUT
# seconds per cell, 600 by default), fails naming the notebook and the cell if a cell fails, and
# writes the executed notebook back and its Markdown (<name>.md, figures in <name>_files/).
# Last, docs/tools/check.py checks every guide: its Markdown and figures are what its notebook
# renders to, and every link and image of docs/*.md and README.md resolves. --check installs
# only Debian's Jupyter (no GoNB) and runs that check alone: CI runs it on the committed guides
# before executing them.
set -euo pipefail

gonb_version=v0.11.4
xtools_version=v0.52.0
ort_version=1.16.3 # newer onnxruntime-node versions download their binaries from a host off the npm registry
apt_packages=(jupyter-notebook jupyter-nbconvert jupyter-client python3-ipykernel graphviz)
python=/usr/bin/python3
timeout=${UNROLL_DOCS_TIMEOUT:-600}

docs=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$docs")
cache=${XDG_CACHE_HOME:-$HOME/.cache}/unroll-docs
gonb_bin=$cache/gonb-$gonb_version/gonb
goimports_dir=$cache/goimports-$xtools_version
ort_dir=$cache/onnxruntime-node-$ort_version

say() { echo "docs: $*"; }
die() {
	echo "docs: $*" >&2
	exit 1
}

check_only=
if [ "${1:-}" = --check ]; then
	[ $# -eq 1 ] || die "--check takes no notebooks: it checks them all"
	check_only=1
	shift
fi

# Resolve the notebooks first, so a typo fails before any install.
notebooks=()
if [ -n "$check_only" ]; then
	:
elif [ $# -eq 0 ]; then
	shopt -s nullglob
	notebooks=("$docs"/*.ipynb)
	shopt -u nullglob
	[ ${#notebooks[@]} -gt 0 ] || die "no notebooks in $docs"
else
	for arg in "$@"; do
		found=
		for cand in "$arg" "$arg.ipynb" "$docs/$arg" "$docs/$arg.ipynb" "$docs/$(basename "$arg")"; do
			if [[ $cand == *.ipynb && -f $cand ]]; then
				found=$(cd "$(dirname "$cand")" && pwd)/$(basename "$cand")
				break
			fi
		done
		[ -n "$found" ] || die "no notebook $arg in $docs"
		[ "$(dirname "$found")" = "$docs" ] || die "$arg: the guides live in $docs"
		notebooks+=("$found")
	done
fi

[ -n "$check_only" ] || command -v go >/dev/null || die "go is not on PATH"
install_start=$(date +%s)

# Debian's Jupyter. Without dpkg (not Debian), a python3 that has nbclient and nbconvert will do.
missing=()
if command -v dpkg-query >/dev/null; then
	for p in "${apt_packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
elif ! "$python" -c 'import nbclient, nbconvert, nbformat, jupyter_client' 2>/dev/null; then
	die "$python lacks nbclient and nbconvert; install Jupyter (the equivalents of Debian's ${apt_packages[*]})"
elif ! command -v dot >/dev/null; then
	die "Graphviz's dot is not on PATH; install Graphviz (Debian's graphviz)"
fi
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages; install them with: sudo apt-get install ${missing[*]}"
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -n "$check_only" ]; then
	say "install: $(($(date +%s) - install_start)) s"
	exec "$python" "$docs/tools/check.py" --root "$root"
fi

# build_tool OUT MODULE@VERSION PACKAGE: builds PACKAGE into OUT inside a throw-away module
# (`go install pkg@version` is not available everywhere), unless OUT is already there.
build_tool() {
	local out=$1 getarg=$2 pkg=$3 tmp
	[ -x "$out" ] && return 0
	say "building $pkg ($getarg)"
	tmp=$(mktemp -d)
	(
		cd "$tmp"
		export GOWORK=off
		go mod init unroll-docs-tools >/dev/null 2>&1
		go get "$getarg" 2>get.log || {
			cat get.log >&2
			exit 1
		}
		mkdir -p "$(dirname "$out")"
		go build -o "$out.tmp" "$pkg"
	) || {
		rm -rf "$tmp" "$out.tmp"
		die "could not build $pkg"
	}
	rm -rf "$tmp"
	mv "$out.tmp" "$out"
}
build_tool "$gonb_bin" "github.com/janpfeifer/gonb@$gonb_version" github.com/janpfeifer/gonb
build_tool "$goimports_dir/goimports" "golang.org/x/tools/cmd/goimports@$xtools_version" golang.org/x/tools/cmd/goimports
export PATH="$goimports_dir:$PATH"

# OpenMPI (guide 14 trains data-parallel under mpirun): Debian's libopenmpi-dev and openmpi-bin.
if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c 2>/dev/null; then
	[ "$(id -u)" -eq 0 ] || die "OpenMPI is missing; install it with: sudo apt-get install libopenmpi-dev openmpi-bin pkg-config"
	say "installing libopenmpi-dev openmpi-bin"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenmpi-dev openmpi-bin pkg-config >/dev/null
fi

# Node.js and onnxruntime-node (guide 15), installed into a folder of the cache with npm's
# --prefix: nothing global, no lock file.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	[ "$(id -u)" -eq 0 ] || die "Node.js is missing; install it with: sudo apt-get install nodejs npm"
	say "installing nodejs npm"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -d "$ort_dir/node_modules/onnxruntime-node" ]; then
	say "installing onnxruntime-node@$ort_version from the npm registry"
	rm -rf "$ort_dir.tmp"
	mkdir -p "$ort_dir.tmp"
	npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
		--prefix "$ort_dir.tmp" "onnxruntime-node@$ort_version" >/dev/null || {
		rm -rf "$ort_dir.tmp"
		die "could not install onnxruntime-node@$ort_version"
	}
	rm -rf "$ort_dir"
	mv "$ort_dir.tmp" "$ort_dir"
fi
export NODE_PATH="$ort_dir/node_modules"

# The GoNB kernel. gonb --install copies a binary that lives in a cache folder into Jupyter's
# kernel folder and writes kernel.json; the kernel then gets goimports on its PATH (Jupyter
# expands ${PATH} in a kernel's env) and onnxruntime-node on its NODE_PATH, so it also works
# when Jupyter is started by hand.
kernel_dir=${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}/kernels/gonb
if ! cmp -s "$gonb_bin" "$kernel_dir/gonb" || ! grep -qF "$goimports_dir" "$kernel_dir/kernel.json" 2>/dev/null ||
	! grep -qF "$NODE_PATH" "$kernel_dir/kernel.json" 2>/dev/null; then
	say "registering the GoNB kernel in $kernel_dir"
	# --force_deps: gopls (completion while editing) is optional.
	out=$("$gonb_bin" --install --force_copy --force_deps 2>&1) || die "gonb --install failed: $out"
	"$python" - "$kernel_dir/kernel.json" "$goimports_dir" "$NODE_PATH" <<-'EOF'
		import json, sys
		path, tools, node_path = sys.argv[1], sys.argv[2], sys.argv[3]
		with open(path) as f:
		    spec = json.load(f)
		spec.setdefault("env", {})["PATH"] = tools + ":${PATH}"
		spec["env"]["NODE_PATH"] = node_path
		with open(path, "w") as f:
		    json.dump(spec, f, indent=1)
		    f.write("\n")
	EOF
fi
say "install: $(($(date +%s) - install_start)) s"

run_start=$(date +%s)
status=0
"$python" "$docs/tools/notebooks.py" --root "$root" --timeout "$timeout" "${notebooks[@]}" || status=$?
say "execute and render: $(($(date +%s) - run_start)) s"
# Say which guides now differ from the committed ones (a real change, or a render never committed).
if [ $status -eq 0 ] && git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	changed=$(git -C "$root" status --porcelain --untracked-files=all -- "$docs" |
		grep -E '\.(md|ipynb|png)$' | grep -v 'docs/README.md$' || true)
	if [ -n "$changed" ]; then
		say "these guide files differ from git:"
		echo "$changed"
	else
		say "the rendered guides are the same as in git"
	fi
fi
if [ $status -eq 0 ]; then
	"$python" "$docs/tools/check.py" --root "$root" || status=$?
fi
exit $status
