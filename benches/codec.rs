//! Codec benchmarks of the `dlms` crate: `cargo bench --bench codec`.
//!
//! Before measuring, it prints the heap allocations of one decode of each message, counted by
//! a global allocator wrapper, to show that an image block's payload is not copied.

#[path = "support/mod.rs"]
mod support;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dlms::acse::{Aare, Aarq};
use dlms::apdu::*;
use dlms::axdr::{tag, BitString, Data, EncodedData};
use dlms::hdlc::{crc16, Control, FrameRepr, HdlcAddress};
use dlms::security::{protect, unprotect, Keys, SecurityControl};
use dlms::Codec;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Counts allocations and allocated bytes while [`COUNTING`] is set (so the timed loops pay
/// nothing for it), then defers to the system allocator.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        // SAFETY: forwards the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout, in `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_of(f: impl FnOnce()) -> (usize, usize) {
    let (n0, b0) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    COUNTING.store(true, Ordering::Relaxed);
    f();
    COUNTING.store(false, Ordering::Relaxed);
    (
        ALLOCATIONS.load(Ordering::Relaxed) - n0,
        ALLOCATED_BYTES.load(Ordering::Relaxed) - b0,
    )
}

fn bitstring_response(bits: usize) -> Vec<u8> {
    let bits = BitString::from_bools((0..bits).map(|i| i % 3 != 0));
    GetResponse::Normal {
        iip: InvokeIdAndPriority(0xC1),
        result: GetDataResult::Data(Data::BitString(bits).into()),
    }
    .to_bytes()
}

const AARQ_V1: &str = "601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0";
const AARE_V2: &str =
    "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007";

/// What a meter does with each block: decode the APDU, then read the block number and a
/// borrowed view of the payload from the parameters.
fn decode_image_block(wire: &[u8]) -> (u32, &[u8]) {
    let Ok(ActionRequest::Normal {
        parameters: Some(params),
        ..
    }) = ActionRequest::decode(wire)
    else {
        panic!("not an ACTION-Request-Normal with parameters")
    };
    let read = |params: &EncodedData<'_>| -> Option<(u32, usize, usize)> {
        let mut r = params.structure(2)?;
        (r.u8().ok()? == tag::DOUBLE_LONG_UNSIGNED).then_some(())?;
        let number = r.u32().ok()?;
        (r.u8().ok()? == tag::OCTET_STRING).then_some(())?;
        let len = r.byte_length().ok()?;
        Some((number, r.offset(), len))
    };
    let (number, at, len) = read(&params).expect("image_block_transfer parameters");
    // The parameters borrow from `wire`: find the payload there.
    let start = params.as_bytes().as_ptr() as usize - wire.as_ptr() as usize + at;
    (number, &wire[start..start + len])
}

fn report_allocations() {
    let payload = vec![0xA5u8; 1024];
    let block = support::block_request(41, &payload);
    let (n, bytes) = allocations_of(|| {
        black_box(decode_image_block(black_box(&block)));
    });
    println!(
        "allocations: decode image_block_transfer and read its block (1 KiB payload): {n} allocation(s), {bytes} bytes"
    );
    let bits = bitstring_response(8192);
    let (n, bytes) = allocations_of(|| {
        black_box(GetResponse::decode(black_box(&bits)).unwrap());
    });
    println!("allocations: decode GET-response with 8,192-bit bit-string: {n} allocation(s), {bytes} bytes");
}

fn image_block(c: &mut Criterion) {
    report_allocations();
    let payload = vec![0xA5u8; 1024];
    let wire = support::block_request(41, &payload);
    let mut g = c.benchmark_group("image_block_transfer_1k");
    g.bench_function("decode", |b| {
        b.iter(|| ActionRequest::decode(black_box(&wire)).unwrap())
    });
    g.bench_function("decode_and_read_block", |b| {
        b.iter(|| decode_image_block(black_box(&wire)))
    });
    let request = ActionRequest::decode(&wire).unwrap();
    let mut out = Vec::with_capacity(wire.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&request).encode(&mut out);
        })
    });
    g.finish();
}

fn bit_string(c: &mut Criterion) {
    let wire = bitstring_response(8192);
    let mut g = c.benchmark_group("get_response_bitstring_8192");
    g.bench_function("decode", |b| {
        b.iter(|| GetResponse::decode(black_box(&wire)).unwrap())
    });
    let resp = GetResponse::decode(&wire).unwrap();
    g.bench_function("encode", |b| b.iter(|| black_box(&resp).to_bytes()));
    g.finish();
}

fn acse(c: &mut Criterion) {
    let aarq = hex::decode(AARQ_V1).unwrap();
    let aare = hex::decode(AARE_V2).unwrap();
    let mut g = c.benchmark_group("acse");
    g.bench_function("aarq_decode", |b| {
        b.iter(|| Aarq::decode(black_box(&aarq)).unwrap())
    });
    let parsed = Aarq::decode(&aarq).unwrap();
    g.bench_function("aarq_encode", |b| b.iter(|| black_box(&parsed).to_bytes()));
    g.bench_function("aare_decode", |b| {
        b.iter(|| Aare::decode(black_box(&aare)).unwrap())
    });
    let parsed = Aare::decode(&aare).unwrap();
    g.bench_function("aare_encode", |b| b.iter(|| black_box(&parsed).to_bytes()));
    g.finish();
}

fn hdlc(c: &mut Criterion) {
    let info = vec![0x3Cu8; 1024];
    let frame = FrameRepr {
        segmented: false,
        destination: HdlcAddress::server(1, 17),
        source: HdlcAddress::client(16),
        control: Control::I {
            ns: 0,
            nr: 0,
            pf: true,
        },
        info: &info,
    };
    let bytes = frame.to_bytes();
    let mut g = c.benchmark_group("hdlc_frame_1k");
    g.bench_function("emit", |b| b.iter(|| black_box(&frame).to_bytes()));
    g.bench_function("parse", |b| {
        b.iter(|| FrameRepr::parse(black_box(&bytes)).unwrap())
    });
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("fcs_1k", |b| b.iter(|| crc16(black_box(&info))));
    g.finish();
}

fn suite0(c: &mut Criterion) {
    let keys = Keys {
        encryption: [0x0F; 16],
        authentication: [0xD0; 16],
    };
    let title = *b"MTR00001";
    let plain = vec![0xC3u8; 1024];
    let sc = SecurityControl::AUTHENTICATED_ENCRYPTED;
    let mut g = c.benchmark_group("suite0_1k");
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("encrypt_decrypt", |b| {
        b.iter(|| {
            let ciphered = protect(&keys, &title, sc, 7, black_box(&plain)).unwrap();
            unprotect(&keys, &title, sc, 7, &ciphered).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, image_block, bit_string, acse, hdlc, suite0);
criterion_main!(benches);
