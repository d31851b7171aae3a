// Package loader turns a Parquet test set into batches of model input
// tensors.
//
// A Dataset is read by streaming record batches through arrow-go's pqarrow
// reader, so a file far larger than memory can be benchmarked. A Binding
// decides, before any row is read, how each model input is built from the
// dataset's columns (or from a --fill constant), and a Source streams Batches
// of Go-owned tensors for one or more bindings over the same rows.
//
// Every error caused by the data or by flags is wrapped with errkind.Input so
// the command layer exits with the usage/input code. arrow-go can panic on
// corrupt files; every exported function that reads Parquet recovers such
// panics and reports the file as corrupt instead of crashing the process.
package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/infergate/infergate/internal/errkind"
)

// ReadOptions configures how a Dataset is read.
type ReadOptions struct {
	// Allocator receives every arrow allocation made while reading; nil
	// means memory.DefaultAllocator. Tests pass a checked allocator to
	// prove that nothing is leaked.
	Allocator memory.Allocator
}

// Column describes one top-level column of a Dataset.
type Column struct {
	Name string
	// Type is arrow's rendering of the column type, e.g. "float32" or
	// "list<item: float32, nullable>".
	Type string
}

// Dataset is an open Parquet file. It is read by streaming record batches
// (see Source) and is never loaded whole into memory.
type Dataset struct {
	path    string
	mem     memory.Allocator
	props   *parquet.ReaderProperties
	pf      *file.Reader
	fr      *pqarrow.FileReader
	fields  []arrow.Field // top-level fields, file order
	leaves  [][]int       // parquet leaf column indices under each field
	columns []Column
	numRows int64
	closed  bool
}

// Each column being read holds one read buffer. arrow's 16 KiB default
// makes streaming syscall-bound (about 3x slower on a one-column file);
// past ~256 KiB there is no further gain. Sources shrink the buffer when
// they read many columns, keeping the total near readBufferBudget.
const (
	defaultReadBuffer = 256 << 10
	minReadBuffer     = 32 << 10
	readBufferBudget  = 32 << 20
)

// parquetMagic opens and closes every Parquet file; "PARE" marks a file
// with an encrypted footer.
var (
	parquetMagic   = []byte("PAR1")
	encryptedMagic = []byte("PARE")
)

// Open opens the Parquet file at path and reads its footer and schema. It
// fails with a one-line errkind.Input error when the file is missing,
// unreadable, a directory, not Parquet, corrupt, or has no rows.
func Open(path string, opts ReadOptions) (ds *Dataset, err error) {
	mem := opts.Allocator
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}

	d := &Dataset{path: path, mem: mem}
	defer func() {
		if r := recover(); r != nil {
			err = d.corrupt(r)
		}
		if err != nil {
			d.closeFile()
			ds = nil
		}
	}()

	props := parquet.NewReaderProperties(mem)
	// Buffered streams read column chunks a window at a time instead of
	// loading each chunk whole, which keeps the resident set small on
	// files with large row groups.
	props.BufferedStreamEnabled = true
	props.BufferSize = defaultReadBuffer
	d.props = props
	pf, err := file.OpenParquetFile(path, false, file.WithReadProps(props))
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, errkind.Input(fmt.Errorf("dataset %s: permission denied", path))
		}
		return nil, d.corrupt(err)
	}
	d.pf = pf
	// See arrowschema.go: a corrupt stored arrow schema can crash arrow-go
	// beyond recover(), so an implausible one is hidden from pqarrow.
	for _, kv := range pf.MetaData().KeyValueMetadata() {
		if kv != nil && kv.Key == arrowSchemaKey && (kv.Value == nil || !plausibleArrowSchema(*kv.Value)) {
			kv.Key = arrowSchemaKey + ".ignored"
		}
	}

	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, d.corrupt(err)
	}
	d.fr = fr
	sc, err := fr.Schema()
	if err != nil {
		return nil, d.corrupt(err)
	}
	d.fields = sc.Fields()
	if len(d.fields) != len(fr.Manifest.Fields) {
		return nil, d.corrupt("schema and column manifest disagree")
	}
	for i, f := range d.fields {
		d.columns = append(d.columns, Column{Name: f.Name, Type: f.Type.String()})
		var leaves []int
		collectLeaves(&fr.Manifest.Fields[i], &leaves)
		d.leaves = append(d.leaves, leaves)
	}

	// Count rows from the row groups, which is what the record reader
	// walks; some writers leave the footer's total at 0.
	md := pf.MetaData()
	for i := 0; i < pf.NumRowGroups(); i++ {
		n := md.RowGroup(i).NumRows()
		if n < 0 || d.numRows+n < d.numRows {
			return nil, d.corrupt(fmt.Sprintf("row group %d has %d rows", i, n))
		}
		d.numRows += n
	}
	if d.numRows == 0 {
		return nil, errkind.Input(fmt.Errorf("dataset %s has no rows", path))
	}
	if len(d.fields) == 0 {
		return nil, errkind.Input(fmt.Errorf("dataset %s has no columns", path))
	}
	return d, nil
}

// checkFile turns the common ways a path can fail to be a Parquet file into
// clear messages before arrow-go sees it; arrow's own errors for these cases
// talk about footers and offsets, which helps nobody.
func checkFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errkind.Input(fmt.Errorf("dataset %s: file not found", path))
	case errors.Is(err, fs.ErrPermission):
		return errkind.Input(fmt.Errorf("dataset %s: permission denied", path))
	case err != nil:
		return errkind.Input(fmt.Errorf("dataset %s: %v", path, err))
	case st.IsDir():
		return errkind.Input(fmt.Errorf("dataset %s is a directory, not a parquet file", path))
	case !st.Mode().IsRegular():
		return errkind.Input(fmt.Errorf("dataset %s is not a regular file", path))
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return errkind.Input(fmt.Errorf("dataset %s: permission denied", path))
		}
		return errkind.Input(fmt.Errorf("dataset %s: %v", path, err))
	}
	defer f.Close()
	// Header magic, footer length and footer magic: 12 bytes at least.
	if st.Size() < 12 {
		return errkind.Input(fmt.Errorf("dataset %s is not a parquet file (only %d bytes)", path, st.Size()))
	}
	head := make([]byte, 4)
	tail := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return errkind.Input(fmt.Errorf("dataset %s: %v", path, err))
	}
	if _, err := f.ReadAt(tail, st.Size()-4); err != nil {
		return errkind.Input(fmt.Errorf("dataset %s: %v", path, err))
	}
	if bytes.Equal(tail, encryptedMagic) {
		return errkind.Input(fmt.Errorf("dataset %s: encrypted parquet files are not supported", path))
	}
	if !bytes.Equal(head, parquetMagic) || !bytes.Equal(tail, parquetMagic) {
		return errkind.Input(fmt.Errorf("dataset %s is not a parquet file (no PAR1 magic bytes)", path))
	}
	return nil
}

func collectLeaves(f *pqarrow.SchemaField, out *[]int) {
	if f.IsLeaf() {
		*out = append(*out, f.ColIndex)
		return
	}
	for i := range f.Children {
		collectLeaves(&f.Children[i], out)
	}
}

// corrupt builds the error reported for a file arrow-go cannot read,
// whether it said so with an error or a panic.
func (d *Dataset) corrupt(detail any) error {
	msg := strings.TrimSpace(fmt.Sprint(detail))
	// Multi-line panics (e.g. from errors.Join) would break the one-line
	// rule the command layer relies on.
	msg = strings.Join(strings.Fields(msg), " ")
	msg = strings.TrimPrefix(msg, "parquet: ")
	return errkind.Input(fmt.Errorf("dataset %s: corrupt or unsupported parquet: %s", d.path, msg))
}

// recoverCorrupt converts a panic raised by arrow-go while reading into a
// corrupt-file error stored in *err. Use as: defer d.recoverCorrupt(&err).
func (d *Dataset) recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = d.corrupt(r)
	}
}

// Path returns the path the dataset was opened with.
func (d *Dataset) Path() string { return d.path }

// NumRows returns the number of rows the file's footer declares.
func (d *Dataset) NumRows() int64 { return d.numRows }

// Columns returns the top-level columns in file order.
func (d *Dataset) Columns() []Column {
	return append([]Column(nil), d.columns...)
}

// columnNames lists the column names for error messages.
func (d *Dataset) columnNames() string {
	names := make([]string, len(d.columns))
	for i, c := range d.columns {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// fieldIndex returns the index of the top-level column called name, or -1.
func (d *Dataset) fieldIndex(name string) int {
	for i, f := range d.fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Close closes the file. Sources built on the dataset must be closed first.
func (d *Dataset) Close() (err error) {
	if d == nil || d.closed {
		return nil
	}
	d.closed = true
	defer d.recoverCorrupt(&err)
	return d.closeFile()
}

func (d *Dataset) closeFile() error {
	if d.pf == nil {
		return nil
	}
	pf := d.pf
	d.pf, d.fr = nil, nil
	if err := pf.Close(); err != nil {
		return errkind.Input(fmt.Errorf("dataset %s: close: %v", d.path, err))
	}
	return nil
}
