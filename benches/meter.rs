//! Meter benchmarks: `cargo bench --bench meter`. The hot path of an upgrade: the bytes of an
//! ACTION image_block_transfer with a 1 KiB block in, the ACTION-Response bytes out, through
//! association checks, access rights, the IC 18 state machine and the one copy into the image.

#[path = "support/mod.rs"]
mod support;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dlms::association::ClientSettings;
use dlms::cosem::image_transfer;
use dlms::Codec;
use emulator::meter::{Meter, MeterConfig};
use emulator::profile::MeterProfile;

const BLOCK: usize = 1024;
const BLOCKS: u32 = 256;

fn image_block_transfer(c: &mut Criterion) {
    let profile = MeterProfile {
        image_block_size: BLOCK as u32,
        max_pdu_size: 2048,
        ..MeterProfile::default()
    };
    let mut meter = Meter::new(MeterConfig {
        profile,
        ..MeterConfig::default()
    });
    let now = 1_790_000_000_000;
    meter
        .handle_apdu(now, 0, 16, &ClientSettings::default().aarq().to_bytes())
        .unwrap();
    let initiate = support::image_request(
        image_transfer::method::IMAGE_TRANSFER_INITIATE,
        &image_transfer::initiate_parameters(b"bench", BLOCK as u32 * BLOCKS),
    );
    meter.handle_apdu(now, 0, 16, &initiate).unwrap();
    let payload = vec![0xA5u8; BLOCK];
    let requests: Vec<Vec<u8>> = (0..BLOCKS)
        .map(|n| support::block_request(n, &payload))
        .collect();
    assert_eq!(
        meter.handle_apdu(now, 0, 16, &requests[0]).unwrap(),
        [0xC7, 0x01, 0xC1, 0x00, 0x00],
        "the block is accepted"
    );
    let mut g = c.benchmark_group("meter");
    g.throughput(Throughput::Bytes(BLOCK as u64));
    let mut i = 0usize;
    g.bench_function("image_block_transfer_1k", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            meter.handle_apdu(now, 0, 16, black_box(&requests[i]))
        })
    });
    g.finish();
}

criterion_group!(benches, image_block_transfer);
criterion_main!(benches);
