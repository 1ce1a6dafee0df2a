#!/usr/bin/env bash
# generate.sh regenerates onnx.pb.go from onnx.proto, ONNX's IR definition (Apache-2.0, its
# licence header kept), copied unchanged from Debian 12's python3-onnx 1.12.0
# (/usr/lib/python3/dist-packages/onnx/onnx.proto; IR version 8, opsets up to 17); LICENSES.txt
# says where it comes from and under which licence.
#
# Pinned generators:
#   protoc        libprotoc 3.21.12 (Debian 12's protobuf-compiler 3.21.12-3+deb12u1)
#   protoc-gen-go google.golang.org/protobuf v1.36.12, built from the version go.mod requires
#
# Run it from anywhere: bash onnx/internal/onnxpb/generate.sh (or go generate ./onnx/...).
set -euo pipefail
cd "$(dirname "$0")"

want_protoc="libprotoc 3.21.12"
want_gen="v1.36.12"
if [ "$(protoc --version)" != "$want_protoc" ]; then
	echo "generate.sh: need $want_protoc (apt-get install protobuf-compiler), have $(protoc --version)" >&2
	exit 1
fi
have_gen=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
if [ "$have_gen" != "$want_gen" ]; then
	echo "generate.sh: go.mod requires google.golang.org/protobuf $have_gen, this script pins $want_gen" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
protoc --plugin=protoc-gen-go="$tmp/protoc-gen-go" \
	--go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx.proto=github.com/unroll-ml/unroll/onnx/internal/onnxpb \
	onnx.proto
