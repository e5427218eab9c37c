package transcode

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const sampleProgress = `frame=12
fps=0.00
stream_0_0_q=28.0
bitrate=N/A
total_size=48
out_time_us=-23220
out_time_ms=-23220
out_time=-00:00:00.023220
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
frame=25
fps=24.1
bitrate= 200.5kbits/s
total_size=26000
out_time_us=1000000
out_time_ms=1000000
out_time=00:00:01.000000
speed=1.96x
progress=continue
frame=50
total_size=52000
out_time_us=2000000
out_time=00:00:02.000000
speed=2.1x
progress=end
`

func TestParseProgress(t *testing.T) {
	var got []ProgressEvent
	if err := ParseProgress(strings.NewReader(sampleProgress), func(e ProgressEvent) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	want := []ProgressEvent{
		{OutTime: 0, Frame: 12, TotalSize: 48},
		{OutTime: time.Second, Frame: 25, TotalSize: 26000, Speed: 1.96},
		{OutTime: 2 * time.Second, Frame: 50, TotalSize: 52000, Speed: 2.1, End: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if f := got[1].Fraction(4 * time.Second); f != 0.25 {
		t.Errorf("Fraction = %v, want 0.25", f)
	}
}

func TestParseProgressEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []ProgressEvent
	}{
		{"empty", "", nil},
		{"no block end", "frame=1\nout_time_us=5\n", nil},
		{"crlf", "out_time=00:01:00.5\r\nprogress=continue\r\n", []ProgressEvent{{OutTime: 60*time.Second + 500*time.Millisecond}}},
		{"out_time only", "out_time=01:02:03.000000\nprogress=end", []ProgressEvent{{OutTime: time.Hour + 2*time.Minute + 3*time.Second, End: true}}},
		{"out_time_us wins", "out_time_us=1500000\nout_time=00:00:09.000000\nprogress=continue\n", []ProgressEvent{{OutTime: 1500 * time.Millisecond}}},
		{"garbage", "===\nnoequals\nframe=abc\nspeed=-3x\nspeed=infx\nout_time=99:99:99\nout_time_us=9223372036854775807\nprogress=continue\n",
			[]ProgressEvent{{OutTime: time.Duration(9223372036854775807)}}},
		{"overlong line skipped", "frame=" + strings.Repeat("9", 10000) + "\nframe=7\nprogress=continue\n", []ProgressEvent{{Frame: 7}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []ProgressEvent
			if err := ParseProgress(strings.NewReader(tt.input), func(e ProgressEvent) { got = append(got, e) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseProgressReadError(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	r := io.MultiReader(strings.NewReader("frame=1\nprogress=continue\nframe=2\n"), iotest.ErrReader(boom))
	if err := ParseProgress(r, func(ProgressEvent) { n++ }); !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err = %v after %d events, want boom after 1", err, n)
	}
}

func TestFraction(t *testing.T) {
	tests := []struct {
		ev    ProgressEvent
		total time.Duration
		want  float64
	}{
		{ProgressEvent{OutTime: time.Second}, 0, 0},
		{ProgressEvent{OutTime: time.Second}, 2 * time.Second, 0.5},
		{ProgressEvent{OutTime: 3 * time.Second}, 2 * time.Second, 1},
		{ProgressEvent{End: true}, 0, 1},
	}
	for _, tt := range tests {
		if got := tt.ev.Fraction(tt.total); got != tt.want {
			t.Errorf("%+v.Fraction(%v) = %v, want %v", tt.ev, tt.total, got, tt.want)
		}
	}
}

func FuzzParseProgress(f *testing.F) {
	f.Add([]byte(sampleProgress))
	f.Add([]byte("out_time=-00:00:00.023220\nprogress=continue\n"))
	f.Add([]byte("out_time_us=N/A\nspeed=N/A\nprogress=end"))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ParseProgress(strings.NewReader(string(data)), func(e ProgressEvent) {
			if e.OutTime < 0 || e.Frame < 0 || e.TotalSize < 0 || e.Speed < 0 {
				t.Fatalf("negative field in %+v", e)
			}
			for _, total := range []time.Duration{0, time.Nanosecond, time.Second, time.Hour} {
				if f := e.Fraction(total); f < 0 || f > 1 {
					t.Fatalf("Fraction(%v) = %v", total, f)
				}
			}
		})
		if err != nil {
			t.Fatalf("ParseProgress: %v", err)
		}
	})
}
