package pipeline

import (
	"errors"
	"fmt"
)

// SettingError is a setting that cannot run. Setting is its name as the
// settings' JSON spells it (target_ms, budget, ...), so that a caller can
// say which of its own inputs to change.
type SettingError struct {
	Setting string
	Value   any
	Reason  string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("%s %v: %s", e.Setting, e.Value, e.Reason)
}

func settingErr(setting string, value any, format string, args ...any) error {
	return &SettingError{Setting: setting, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// ErrSupernetMismatch is a ScoreTask whose supernet or data is not the
// one the task names: weights of another identity, data other than the
// supernet's, or evaluation settings that give another validation set.
var ErrSupernetMismatch = errors.New("supernet mismatch")
