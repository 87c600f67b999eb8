package mountinfo

import (
	"slices"
	"strings"
	"testing"
)

const sample = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /home/alice/thinclient_drives rw,nosuid,nodev,relatime shared:20 - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1000,group_id=1000
43 22 0:38 / /mnt/with\040space rw - fuse.sshfs host:/ rw
42 22 0:37 / /tmp/x/home/root/thinclient_drives rw - fuse.bindfs /tmp/x/src rw,user_id=0
46 22 0:41 / /tmp/v/thinclient_drives rw - fuse /tmp/v/src\134x rw,user_id=1003,group_id=1004,allow_other
47 22 0:42 / /tmp/w rw - fuse x rw,user_id=99999999999,group_id=-1

`

func TestParse(t *testing.T) {
	ms, err := Parse(strings.NewReader(sample), "mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{22, "/", "ext4", "/dev/sda1", -1, -1},
		{40, "/home/alice/thinclient_drives", "fuse.xrdp-chansrv", "xrdp-chansrv", 1000, 1000},
		{43, "/mnt/with space", "fuse.sshfs", "host:/", -1, -1},
		{42, "/tmp/x/home/root/thinclient_drives", "fuse.bindfs", "/tmp/x/src", 0, -1},
		{46, "/tmp/v/thinclient_drives", "fuse", `/tmp/v/src\x`, 1003, 1004},
		{47, "/tmp/w", "fuse", "x", -1, -1}, // out of range, negative: unknown
	}
	if !slices.Equal(ms, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", ms, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"22 1 8:1 / / rw\n", "mi: line 1: not a mountinfo line"},
		{sample + "x 1 8:1 / / rw - ext4 a rw\n", "mi: line 8: mount id"},
		{"22 1 8:1 / /" + strings.Repeat("a", 2<<20) + " rw - ext4 a rw\n", "mi: line 1: bufio.Scanner: token too long"},
	} {
		if _, err := Parse(strings.NewReader(tt.in), "mi"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`a\040b`:   "a b",
		`a\134b`:   `a\b`,
		`tab\011x`: "tab\tx",
		`bad\09`:   `bad\09`,
		`end\04`:   `end\04`,
		`big\777`:  `big\777`, // not a byte: left as written
		`\040`:     " ",
		`plain`:    "plain",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
