package gcpstorage

// Test hooks: where the tests interleave a second writer or pusher.

func (e *Exporter) SetBeforeWrite(f func())       { e.beforeWrite = f }
func (d *Data) SetBeforeOpen(f func(name string)) { d.beforeOpen = f }
func (d *Data) SetBeforePointer(f func())         { d.beforePointer = f }
