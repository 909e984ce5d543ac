package stream

import "fmt"

// StateForTest describes the endpoint's internal state, for failure messages.
func (e *Endpoint) StateForTest() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := fmt.Sprintf("gen=%d trDown=%v paused=%v closing=%v closed=%v head=%d nextSend=%d nextSeq=%d outCount=%d expected=%d inbox=%d/%d ooo=%d acks=%d cumSet=%v rto=%v",
		e.gen, e.trDown, e.paused, e.closing, e.closed, e.headSeqLocked(), e.nextSend, e.nextSeq, e.outCount, e.expected, e.inboxHead, len(e.inbox), len(e.ooo), len(e.acks), e.cumSet, e.rtt.rto)
	for i := 0; i < e.out.len(); i++ {
		en := e.out.at(i)
		if !en.acked {
			s += fmt.Sprintf("\n  seq %d resends=%d evidence=%v chances=%d lastSent=%v", en.seq, en.resends, en.evidence, en.chances, en.lastSent.Format("15:04:05.000"))
		}
	}
	return s
}
