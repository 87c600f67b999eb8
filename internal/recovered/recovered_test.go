package recovered

import (
	"errors"
	"regexp"
	"testing"
)

func boom(i []int) int { return i[3] }

func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Error("the test callback", r)
		}
	}()
	f()
	return nil
}

func TestError(t *testing.T) {
	err := catch(func() { boom([]int{1}) })
	re := regexp.MustCompile(`^panic in the test callback at recovered/recovered_test\.go:\d+: runtime error: index out of range \[3\] with length 1$`)
	if err == nil || !re.MatchString(err.Error()) {
		t.Fatalf("err = %v", err)
	}
	err = catch(func() { panic(errors.New("custom")) })
	if err == nil || !regexp.MustCompile(`^panic in the test callback at recovered/recovered_test\.go:\d+: custom$`).MatchString(err.Error()) {
		t.Fatalf("err = %v", err)
	}
	if catch(func() {}) != nil {
		t.Fatal("no panic gave an error")
	}
}
