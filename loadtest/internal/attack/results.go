package attack

import (
	"bufio"
	"fmt"
	"os"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// resultsFile streams the counted results to a vegeta results file (gob, what `vegeta report`
// reads), so the file and summary.json count the same requests.
type resultsFile struct {
	f   *os.File
	bw  *bufio.Writer
	enc vegeta.Encoder
	err error // the first write failure; later results are not written
}

func createResults(path string) (*resultsFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create results: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	return &resultsFile{f: f, bw: bw, enc: vegeta.NewEncoder(bw)}, nil
}

// Add writes a counted hit.
func (w *resultsFile) Add(h *Hit) {
	if !h.Counted || w.err != nil {
		return
	}
	if err := w.enc.Encode(h.Result); err != nil {
		w.err = fmt.Errorf("write results: %w", err)
	}
}

// Close flushes and closes the file; its error is the first failure of the file's life.
func (w *resultsFile) Close() error {
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("write results: %w", err)
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("close results: %w", err)
	}
	return w.err
}
