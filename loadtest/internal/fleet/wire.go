package fleet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The results stream (the body of POST /v1/attack's answer) is a sequence of frames: a kind
// byte, the payload's length (uvarint), the payload. A worker sends a result frame per result as
// it arrives, a beat when it has had nothing to say for a while (so that a silent worker can be
// told from a slow one), and one end frame last.
//
// Results are encoded by hand rather than with vegeta's gob: the stream is a wire format, not an
// artefact (the coordinator writes the .bin with vegeta's own encoder), and at the generator's
// maximum rate gob's reflection on both ends would cost the coordination what `make perf` P3f
// says it must not.
const (
	frameResult = 'r'
	frameBeat   = 'h'
	frameEnd    = 'e'

	// maxFrame bounds one frame: a result carries its body (a POST's created item, an error
	// page), never a GET success's.
	maxFrame = 64 << 20
	// maxHeaders bounds a result's header names, and the values of each: a real response has
	// tens. Without it a frame that claims millions had the decoder size a map for them.
	maxHeaders = 1024
)

// end is the payload of the end frame (JSON): what the worker knows of its attack.
type end struct {
	Sent         int64  `json:"sent"`           // results streamed
	PeakInFlight int64  `json:"peak_in_flight"` // most of its requests in flight at once
	Stopped      bool   `json:"stopped"`        // cut short: a stop, or the coordinator gone
	Error        string `json:"error,omitempty"`
}

// appendHead appends the head of a frame of kind whose payload is n bytes long.
func appendHead(b []byte, kind byte, n int) []byte {
	return binary.AppendUvarint(append(b, kind), uint64(n))
}

// readFrame reads the next frame into *buf (grown as needed) and returns its kind and payload,
// which is valid until the next call.
func readFrame(r *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	kind, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, noEOF(err)
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes (at most %d)", n, maxFrame)
	}
	if uint64(cap(*buf)) >= n {
		p := (*buf)[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return 0, nil, noEOF(err)
		}
		return kind, p, nil
	}
	// A larger frame than any before: the buffer grows as its bytes arrive, so a length that
	// claims more than is sent costs what was sent, not what was claimed.
	b := bytes.NewBuffer((*buf)[:0])
	if _, err := io.CopyN(b, r, int64(n)); err != nil {
		return 0, nil, noEOF(err)
	}
	*buf = b.Bytes()
	return kind, *buf, nil
}

// noEOF turns EOF into an unexpected EOF: a stream that ends inside a frame was cut, not finished.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendResult appends r's payload to b, its timestamp as an offset from t0 (the schedule's
// start on the worker): the coordinator puts it on its own timeline by adding its own start.
func appendResult(b []byte, r *vegeta.Result, t0 time.Time) []byte {
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendVarint(b, int64(r.Timestamp.Sub(t0)))
	b = binary.AppendVarint(b, int64(r.Latency))
	b = binary.AppendUvarint(b, uint64(r.Code))
	b = binary.AppendUvarint(b, r.BytesOut)
	b = binary.AppendUvarint(b, r.BytesIn)
	b = appendString(b, r.Method)
	b = appendString(b, r.URL)
	b = appendString(b, r.Error)
	b = binary.AppendUvarint(b, uint64(len(r.Body)))
	b = append(b, r.Body...)
	b = binary.AppendUvarint(b, uint64(len(r.Headers)))
	for k, vs := range r.Headers {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads result payloads. It interns the strings every result repeats (methods, header
// names) so that a result costs one allocation per distinct string, not per copy.
type decoder struct {
	p      []byte
	err    error
	intern map[string]string
}

var errShort = errors.New("result frame too short")

// result decodes a payload into r; began is the coordinator's start of the schedule.
func (d *decoder) result(p []byte, r *vegeta.Result, began time.Time) error {
	d.p, d.err = p, nil
	r.Seq = d.uvarint()
	r.Timestamp = began.Add(time.Duration(d.varint()))
	r.Latency = time.Duration(d.varint())
	r.Code = uint16(d.uvarint())
	r.BytesOut = d.uvarint()
	r.BytesIn = d.uvarint()
	r.Method = d.interned()
	r.URL = d.string()
	r.Error = d.string()
	if n := d.uvarint(); n > 0 {
		r.Body = append([]byte(nil), d.bytes(n)...)
	}
	if n := d.bounded(); n > 0 {
		r.Headers = make(http.Header, min(n, 16))
		for range n {
			k := d.interned()
			vs := make([]string, d.bounded())
			for i := range vs {
				vs[i] = d.string()
			}
			r.Headers[k] = vs
		}
	}
	if d.err == nil && len(d.p) != 0 {
		d.err = fmt.Errorf("result frame has %d bytes too many", len(d.p))
	}
	return d.err
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.p = d.p[n:]
	return v
}

// count reads a number of items that follow, each at least one byte long: a corrupt count
// fails instead of allocating for it.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.p)) {
		d.fail()
		return 0
	}
	return n
}

// bounded is count, refused past maxHeaders: a count sizes an allocation, and the bytes that
// follow bound it only by the frame, up to maxFrame.
func (d *decoder) bounded() uint64 {
	n := d.count()
	if n > maxHeaders {
		if d.err == nil {
			d.err = fmt.Errorf("result frame claims %d headers or values (at most %d)", n, maxHeaders)
		}
		d.p = nil
		return 0
	}
	return n
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || uint64(len(d.p)) < n {
		d.fail()
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

func (d *decoder) interned() string {
	b := d.bytes(d.uvarint())
	if s, ok := d.intern[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if d.intern == nil {
		d.intern = map[string]string{}
	}
	if len(d.intern) < 256 {
		d.intern[s] = s
	}
	return s
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.p = nil
}
