// Package tsclientwatchv1 is the generated Go code for protocol version 1
// between a tsclientwatch host and a detector plugin (detector.proto).
//
// The generated files are committed; regenerate them after editing
// detector.proto with `go generate ./plugin/...`. The generators are pinned
// as tools in go.mod (protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.6.2);
// protoc itself is Debian's protobuf-compiler 3.21.12.
package tsclientwatchv1

//go:generate sh -c "protoc -I . --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative detector.proto"
