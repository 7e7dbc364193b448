//! The delivery latency histogram is recorded once per dispatched event, so recording on a
//! channel already seen must not allocate. A counting global allocator checks that: it counts
//! the allocations made by this thread while `measuring` is set.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bayou_server::engine::DeliveryLatency;

struct Counting;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MEASURING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, which is the system allocator's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn recording_on_a_known_channel_allocates_nothing() {
    let latency = DeliveryLatency::default();
    let first = allocations_during(|| latency.record("/topic/AccountUpdates", 3));
    assert!(
        first > 0,
        "the first event of a channel creates its histogram"
    );
    let channel = String::from("/topic/AccountUpdates");
    let later = allocations_during(|| {
        for ms in 0..10_000 {
            latency.record(&channel, ms);
        }
    });
    assert_eq!(later, 0, "10,000 events on a known channel");
    assert_eq!(latency.snapshot()[0].count, 10_001);
}
