package scenario

import (
	"reflect"
	"testing"

	"github.com/benchharness/benchharness/loadtest/internal/summary"
)

func TestDeployQueues(t *testing.T) {
	net := func(qs ...summary.NetQueue) *summary.NetSample { return &summary.NetSample{Queues: qs} }
	old, successor := summary.NetQueue{Inode: 11, Queue: 0, Limit: 4096}, summary.NetQueue{Inode: 22, Queue: 3, Limit: 4096}
	timeline := []summary.Sample{
		{OffsetMs: 0},                  // not read: skipped
		{OffsetMs: 100, Net: net(old)}, // the socket at the first reading is the old one
		{OffsetMs: 200, Net: &summary.NetSample{Failed: true}},
		{OffsetMs: 300, Net: net(old, successor)},
		{OffsetMs: 400, Net: net(successor)},
	}
	tests := []struct {
		strategy string
		want     []summary.AcceptQueueSample
	}{
		{ReusePort, []summary.AcceptQueueSample{
			{OffsetMs: 100, Socket: "old (inode 11)", Limit: 4096},
			{OffsetMs: 300, Socket: "old (inode 11)", Limit: 4096},
			{OffsetMs: 300, Socket: "new (inode 22)", Queue: 3, Limit: 4096},
			{OffsetMs: 400, Socket: "new (inode 22)", Queue: 3, Limit: 4096},
		}},
		{Handoff, []summary.AcceptQueueSample{
			{OffsetMs: 100, Socket: "shared (inode 11)", Limit: 4096},
			{OffsetMs: 300, Socket: "shared (inode 11)", Limit: 4096},
			{OffsetMs: 300, Socket: "new (inode 22)", Queue: 3, Limit: 4096},
			{OffsetMs: 400, Socket: "new (inode 22)", Queue: 3, Limit: 4096},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			if got := deployQueues(timeline, tt.strategy); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("deployQueues = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if got := deployQueues(nil, Restart); got == nil || len(got) != 0 {
		t.Errorf("no readings: %#v, want an empty list (summary.json says [] rather than null)", got)
	}
}
