package pipeline

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// SettingDiff is a setting given to a resume whose value differs from the
// one the run was started with. Setting is its name as the settings' JSON
// spells it, as in SettingError.
type SettingDiff struct {
	Setting       string
	Stored, Given any
}

// ConflictError is a resume given settings that differ from those the run
// was started with: a resumed run continues with exactly its own. Run
// names the run (run-N, or the file that records it).
type ConflictError struct {
	Run   string
	Diffs []SettingDiff // sorted by setting
	Fix   string        // what to do instead
}

func (e *ConflictError) Error() string {
	parts := make([]string, len(e.Diffs))
	for i, d := range e.Diffs {
		parts[i] = fmt.Sprintf("%s: stored %v, given %v", d.Setting, d.Stored, d.Given)
	}
	return fmt.Sprintf("%s was started with other settings (%s): %s", e.Run, strings.Join(parts, "; "), e.Fix)
}

// diffSettings compares the settings stored and given, each a struct
// whose JSON fields are the settings, field by field; only, when set,
// picks the settings to compare.
func diffSettings(stored, given any, only func(setting string) bool) []SettingDiff {
	a, b := settingValues(stored), settingValues(given)
	var diffs []SettingDiff
	for k, v := range a {
		if only != nil && !only(k) {
			continue
		}
		if fmt.Sprint(v) != fmt.Sprint(b[k]) {
			diffs = append(diffs, SettingDiff{Setting: k, Stored: v, Given: b[k]})
		}
	}
	slices.SortFunc(diffs, func(x, y SettingDiff) int { return strings.Compare(x.Setting, y.Setting) })
	return diffs
}

// settingValues is v's JSON fields by name.
func settingValues(v any) map[string]any {
	var m map[string]any
	js, _ := json.Marshal(v)
	_ = json.Unmarshal(js, &m)
	return m
}
