package detect

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed rules/*.yml
var builtinFS embed.FS

// Builtin returns the built-in rule set, sorted by id: rules written here
// from AWS documentation and the ATT&CK techniques they detect.
func Builtin() ([]*Rule, error) {
	files, err := fs.Glob(builtinFS, "rules/*.yml")
	if err != nil {
		return nil, err
	}
	var out []*Rule
	for _, f := range files {
		src, err := builtinFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r, err := Parse(src)
		if err != nil {
			return nil, fmt.Errorf("built-in %s: %w", f, err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
