package space

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// fileLoaders read arch files of formats this package does not know, by
// extension (".onnx": a model imported by nas/onnximport, which registers
// itself from the command line's side, as imports go downward).
var fileLoaders = map[string]func(path string) (*Arch, error){}

// RegisterFileLoader makes Resolve read files ending in ext (".onnx") with
// load. Registering an extension twice is a programmer error.
func RegisterFileLoader(ext string, load func(path string) (*Arch, error)) {
	if _, dup := fileLoaders[ext]; dup {
		panic("space: file loader registered twice: " + ext)
	}
	fileLoaders[ext] = load
}

// Resolve loads anything `nas inspect` accepts: the name of a zoo network
// (built with o), a path to an arch JSON file, a file of a format
// registered with RegisterFileLoader (an ONNX model), or an arch string. A ref that
// names an existing file, or ends in ".json", is a file; a ref with "_", "|"
// or a space, or one that starts with an input shape ("in3x..."), is an arch
// string. Input, classes and width in o apply to zoo networks only; an arch
// file or string carries its own, so setting them for one is an error.
func Resolve(ref string, o ZooOptions) (*Arch, error) {
	if _, ok := zoo[ref]; ok {
		return ZooArch(ref, o)
	}
	if load, ok := fileLoaders[strings.ToLower(filepath.Ext(ref))]; ok {
		if o != (ZooOptions{}) {
			return nil, fmt.Errorf("input, classes and width options apply to zoo networks; %s sets its own input and classes", ref)
		}
		return load(ref)
	}
	isFile := strings.HasSuffix(ref, ".json")
	if st, err := os.Stat(ref); err == nil && !st.IsDir() {
		isFile = true
	}
	isString := !isFile && (strings.ContainsAny(ref, "| \t\n") || isHeaderItem(ref, "in") || isHeaderItem(ref, "cls"))
	if !isFile && !isString {
		return nil, fmt.Errorf("%q is not a zoo network (see `nas zoo list`), an arch JSON file or an arch string (see docs/arch-format.md)", ref)
	}
	if o != (ZooOptions{}) {
		what := "an arch string"
		if isFile {
			what = "an arch file"
		}
		return nil, fmt.Errorf("input, classes and width options apply to zoo networks; %s sets its own input and classes", what)
	}
	if isFile {
		return LoadArch(ref)
	}
	return ParseArch(ref)
}
