// Package kservepb holds the Go code generated from grpc_predict_v2.proto,
// the gRPC form of the KServe Open Inference Protocol v2.
//
// The generated files are committed so that building and CI need no protoc.
// Regenerating needs protoc (Debian: protobuf-compiler) and the two plugins
// at the versions that made the committed files:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
package kservepb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative grpc_predict_v2.proto
