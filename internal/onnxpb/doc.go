// Package onnxpb holds the Go types of the ONNX protobuf schema (ModelProto,
// GraphProto, NodeProto, TensorProto, ...), generated with protoc and
// protoc-gen-go from onnx.proto, the copy beside this file of
// /usr/lib/python3/dist-packages/onnx/onnx.proto (Debian python3-onnx 1.12,
// IR version 8). nas/export builds ONNX models with these types and
// google.golang.org/protobuf encodes them.
//
// To regenerate (after replacing onnx.proto with a newer copy):
//
//	apt-get install protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@VERSION  # VERSION: google.golang.org/protobuf in go.mod
//	go generate ./internal/onnxpb
//
// Do not edit onnx.pb.go by hand.
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=nas/internal/onnxpb onnx.proto
