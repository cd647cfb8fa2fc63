//! Group delivery: each block sent once to a whole group of meters (an IP multicast group, or
//! all stations behind a gateway), as data concentrators upgrade in the field (the Blue Book's
//! image transfer steps 2 to 4 by broadcast, docs/protocol.md#the-transfer-process; the
//! Landis+Gyr guide's repeated broadcast passes then point-to-point for the remainder):
//!
//! 1. per meter over unicast: enable, read image_block_size, initiate (or resume the transfer
//!    this campaign began), and read the broadcast invocation counter;
//! 2. the group takes the smallest block size of its members (a member with another size
//!    cannot take the group's blocks and is left to unicast), and counters above the highest;
//! 3. each group cycle pushes its blocks once, paced; every `repair_every` blocks and at the
//!    end of the cycle a unicast round reads each member's bit-string and repairs
//!    point-to-point what fewer than `regroup_at` members lack (in the last cycle, all);
//! 4. the next cycle pushes again the blocks `regroup_at` members or more still lack;
//! 5. the campaign's drivers then verify and activate each meter, sending any block still
//!    missing point-to-point.

use super::group_link::{GroupRoute, GroupSender};
use crate::session::Session;
use crate::target::Target;
use crate::transfer::Plan;
use dlms::apdu::{ActionRequest, DataAccessResult as R, InvokeIdAndPriority};
use dlms::axdr::EncodedData;
use dlms::cosem::image_transfer::{
    self as it, attribute as attr, method as m, ImageTransferStatus,
};
use dlms::cosem::{class, BROADCAST_INVOCATION_COUNTER};
use dlms::security::{protect_group, Keys};
use dlms::{Codec, Data};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub use crate::target::GroupKeys;

/// How a campaign delivers its blocks to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupDelivery {
    /// Group cycles at most; what is still missing after the last goes point-to-point.
    pub cycles: u32,
    /// Blocks pushed between unicast repair rounds (0: a round at the end of each cycle only).
    pub repair_every: u32,
    /// The pause after each group transmission: the pacing the group path needs.
    pub interval: Duration,
    /// A block lacking at this many members or more is pushed to the group again; fewer
    /// members get it point-to-point.
    pub regroup_at: u32,
    /// The client SAP group requests come from (the meters' pre-established group client).
    pub client: u16,
    /// Protection with the broadcast key set; `None` sends plain APDUs.
    pub keys: Option<GroupKeys>,
}

impl Default for GroupDelivery {
    /// Two cycles, a round every 100 blocks, 2 ms between transmissions, a block pushed again
    /// when two members lack it, client 102, the default broadcast keys.
    fn default() -> Self {
        GroupDelivery {
            cycles: 2,
            repair_every: 100,
            interval: Duration::from_millis(2),
            regroup_at: 2,
            client: 102,
            keys: Some(GroupKeys::default()),
        }
    }
}

/// A meter of the campaign that group delivery did not serve, and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LeftOut {
    /// The meter.
    pub meter: String,
    /// Why: it could not be prepared, or its block size is not the group's.
    pub reason: String,
}

/// A meter's bit-string as a round read it, block 0 first.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MemberBitmap {
    /// The meter.
    pub meter: String,
    /// Blocks it lacks.
    pub missing: u32,
    /// Its bit-string ('1' held), after the round's repairs; none if unreadable.
    pub bitmap: Option<String>,
}

/// One unicast round.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GroupRound {
    /// The group cycle it ran in.
    pub cycle: u32,
    /// Whether it ended its cycle.
    pub end_of_cycle: bool,
    /// Group transmissions before it.
    pub after_transmissions: u64,
    /// Blocks repaired point-to-point in it.
    pub repaired: u64,
    /// Members holding every block after it.
    pub complete: usize,
    /// That share of the members, in percent.
    pub complete_percent: f64,
    /// The bit-strings of the members still incomplete after it (at most
    /// [`BITMAPS_PER_ROUND`]).
    pub incomplete: Vec<MemberBitmap>,
}

/// The most incomplete members a round lists with their bit-strings.
pub const BITMAPS_PER_ROUND: usize = 50;

/// What group delivery did on one route.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GroupReport {
    /// The route (multicast group, or all stations behind a gateway).
    pub route: String,
    /// The meters the group served.
    pub members: usize,
    /// The meters left to unicast, and why.
    pub left_out: Vec<LeftOut>,
    /// The group's block size (its members' smallest).
    pub block_size: u32,
    /// Blocks in the image at that size.
    pub blocks: u32,
    /// Group cycles run.
    pub cycles: u32,
    /// Group transmissions (each block pushed once per cycle it was in).
    pub transmissions: u64,
    /// Bytes of the group transmissions on the wire, framing included.
    pub group_bytes: u64,
    /// Blocks repaired point-to-point in the rounds, per meter (meters with none omitted).
    pub repair_blocks: BTreeMap<String, u32>,
    /// Their bytes on the wire (request APDUs, framing excluded).
    pub repair_bytes: u64,
    /// The first broadcast invocation counter used (the members' highest, plus one), if the
    /// transmissions were protected.
    pub first_counter: Option<u32>,
    /// When the first and the last group transmission went out (Unix seconds).
    pub first_transmission_at: Option<f64>,
    /// See `first_transmission_at`.
    pub last_transmission_at: Option<f64>,
    /// The unicast rounds.
    pub rounds: Vec<GroupRound>,
    /// Time from the first preparation to the last round.
    pub duration_seconds: f64,
}

impl GroupReport {
    /// Blocks this delivery sent: group transmissions and point-to-point repairs.
    pub fn blocks_sent(&self) -> u64 {
        self.transmissions + self.repaired()
    }

    /// Blocks repaired point-to-point in the rounds.
    pub fn repaired(&self) -> u64 {
        self.repair_blocks.values().map(|&n| u64::from(n)).sum()
    }

    /// The report for a terminal: the route, the transmissions and repairs, and the share of
    /// meters complete after each cycle.
    pub fn render(&self) -> String {
        let after: Vec<String> = self
            .rounds
            .iter()
            .filter(|r| r.end_of_cycle)
            .map(|r| format!("cycle {} {:.1} %", r.cycle, r.complete_percent))
            .collect();
        let mut out = format!(
            "group delivery over {}: {} meters ({} left to unicast), {} blocks of {} bytes\n",
            self.route,
            self.members,
            self.left_out.len(),
            self.blocks,
            self.block_size
        );
        out.push_str(&format!(
            "  {} transmissions in {} cycles ({} bytes); {} blocks repaired point-to-point ({} bytes) in {} rounds\n",
            self.transmissions,
            self.cycles,
            self.group_bytes,
            self.repaired(),
            self.repair_bytes,
            self.rounds.len()
        ));
        out.push_str(&format!("  meters complete after {}\n", after.join(", ")));
        out
    }
}

/// Adds what group delivery sent to a campaign's report: its blocks to the summary and to
/// the download statistics (with the times of its transmissions), and its reports.
pub fn account(report: &mut super::CampaignReport, groups: Vec<GroupReport>) {
    let sent: u64 = groups.iter().map(GroupReport::blocks_sent).sum();
    let first = groups
        .iter()
        .filter_map(|g| g.first_transmission_at)
        .reduce(f64::min);
    let last = groups
        .iter()
        .filter_map(|g| g.last_transmission_at)
        .reduce(f64::max);
    let earliest = |a: Option<f64>| first.into_iter().chain(a).reduce(f64::min);
    let latest = |a: Option<f64>| last.into_iter().chain(a).reduce(f64::max);
    let summary = &mut report.summary;
    summary.blocks_sent += sent;
    summary.first_block_at = earliest(summary.first_block_at);
    summary.last_block_at = latest(summary.last_block_at);
    // One campaign run sends one image: its download statistics have one line.
    if let Some(download) = report.downloads.first_mut() {
        download.packets_sent += sent;
        download.first_packet = earliest(download.first_packet);
        download.last_packet = latest(download.last_packet);
        if let (Some(a), Some(b)) = (download.first_packet, download.last_packet) {
            download.duration_seconds = b - a;
        }
    }
    report.group = groups;
}

/// What a delivery leaves the campaign: its report, and the meters it initiated (the
/// campaign's drivers resume them).
#[derive(Debug)]
pub struct Delivered {
    /// The report of each route.
    pub reports: Vec<GroupReport>,
    /// Indices (into the campaign's targets) of the meters initiated for the image.
    pub initiated: Vec<usize>,
}

/// A member of a group, prepared.
struct Member {
    target: Arc<Target>,
    block_size: u32,
    counter: u32,
}

/// Delivers `plan`'s image to the meters `todo` of `targets` (indices), group by group of the
/// route that reaches them; `resume[i]` says the campaign initiated meter `i` earlier.
pub async fn deliver(
    targets: &[Arc<Target>],
    todo: &[usize],
    resume: &[bool],
    plan: &Arc<Plan>,
    delivery: GroupDelivery,
    concurrency: usize,
) -> Delivered {
    let mut routes: BTreeMap<GroupRoute, Vec<usize>> = BTreeMap::new();
    let mut unrouted = Vec::new();
    for &i in todo {
        match GroupRoute::of(&targets[i]) {
            Some(route) => routes.entry(route).or_default().push(i),
            None => unrouted.push(LeftOut {
                meter: targets[i].name.clone(),
                reason: if targets[i].address.ip().is_none() {
                    "it is on a serial line, and group delivery goes over IP".into()
                } else {
                    "it takes multicast only and joined no multicast group".into()
                },
            }),
        }
    }
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut delivered = Delivered {
        reports: Vec::new(),
        initiated: Vec::new(),
    };
    for (route, indices) in routes {
        // A route that reaches one meter is no group: the drivers serve it point-to-point.
        if indices.len() < 2 {
            continue;
        }
        // The members' own group access (client, keys) where the targets file gives it.
        let access = indices.iter().find_map(|&i| targets[i].group);
        let delivery = GroupDelivery {
            client: access.map_or(delivery.client, |a| a.client),
            keys: delivery.keys.and(access.map_or(delivery.keys, |a| a.keys)),
            ..delivery
        };
        let mut group = Group::new(route, plan.clone(), delivery, semaphore.clone());
        let report = group.run(targets, &indices, resume).await;
        delivered.initiated.extend(group.initiated);
        delivered.reports.push(report);
    }
    match delivered.reports.first_mut() {
        Some(first) => first.left_out.extend(unrouted),
        None if !todo.is_empty() => tracing::warn!(
            "group delivery found no group of two or more meters (no shared multicast group, no gateway): every meter gets its blocks point-to-point"
        ),
        None => {}
    }
    delivered
}

/// One group's delivery under way.
struct Group {
    route: GroupRoute,
    plan: Arc<Plan>,
    delivery: GroupDelivery,
    semaphore: Arc<Semaphore>,
    initiated: Vec<usize>,
    report: GroupReport,
    /// Per member: the blocks it holds, as last read (and repaired).
    held: Vec<Option<Vec<bool>>>,
}

impl Group {
    fn new(
        route: GroupRoute,
        plan: Arc<Plan>,
        delivery: GroupDelivery,
        semaphore: Arc<Semaphore>,
    ) -> Self {
        Group {
            report: GroupReport {
                route: route.to_string(),
                members: 0,
                left_out: Vec::new(),
                block_size: 0,
                blocks: 0,
                cycles: 0,
                transmissions: 0,
                group_bytes: 0,
                repair_blocks: BTreeMap::new(),
                repair_bytes: 0,
                first_counter: None,
                first_transmission_at: None,
                last_transmission_at: None,
                rounds: Vec::new(),
                duration_seconds: 0.0,
            },
            route,
            plan,
            delivery,
            semaphore,
            initiated: Vec::new(),
            held: Vec::new(),
        }
    }

    async fn run(
        &mut self,
        targets: &[Arc<Target>],
        indices: &[usize],
        resume: &[bool],
    ) -> GroupReport {
        let started = Instant::now();
        let members = self.prepare(targets, indices, resume).await;
        self.report.members = members.len();
        if let Err(e) = self.cycles(&members).await {
            self.report.left_out.extend(members.iter().map(|m| LeftOut {
                meter: m.target.name.clone(),
                reason: format!("the group path failed: {e}"),
            }));
            self.report.members = 0;
        }
        self.report.duration_seconds = started.elapsed().as_secs_f64();
        self.report.clone()
    }

    /// Prepares every meter over unicast; keeps those with the group's block size.
    async fn prepare(
        &mut self,
        targets: &[Arc<Target>],
        indices: &[usize],
        resume: &[bool],
    ) -> Vec<Member> {
        let mut tasks = Vec::with_capacity(indices.len());
        for &i in indices {
            let target = targets[i].clone();
            let plan = self.plan.clone();
            let semaphore = self.semaphore.clone();
            let (resume, keyed) = (resume[i], self.delivery.keys.is_some());
            tasks.push(tokio::spawn(async move {
                let _slot = semaphore.acquire_owned().await.expect("semaphore open");
                let prepared = prepare(&target, &plan, resume, keyed).await;
                (i, target, prepared)
            }));
        }
        let mut members = Vec::new();
        for task in tasks {
            let (index, target, prepared) = task.await.expect("preparation task");
            match prepared {
                Ok((block_size, counter)) => {
                    self.initiated.push(index);
                    members.push(Member {
                        target,
                        block_size,
                        counter,
                    });
                }
                Err(reason) => self.report.left_out.push(LeftOut {
                    meter: target.name.clone(),
                    reason,
                }),
            }
        }
        let block_size = members.iter().map(|m| m.block_size).min().unwrap_or(0);
        let (kept, other): (Vec<Member>, Vec<Member>) = members
            .into_iter()
            .partition(|m| m.block_size == block_size);
        self.report.left_out.extend(other.iter().map(|m| LeftOut {
            meter: m.target.name.clone(),
            reason: format!(
                "its block size {} is not the group's {block_size}",
                m.block_size
            ),
        }));
        self.report.block_size = block_size;
        self.report.blocks = if block_size == 0 {
            0
        } else {
            self.plan.image.len().div_ceil(block_size as usize) as u32
        };
        self.held = vec![None; kept.len()];
        kept
    }

    /// The group cycles, each with its rounds.
    async fn cycles(&mut self, members: &[Member]) -> std::io::Result<()> {
        let Some(first) = members.first() else {
            return Ok(());
        };
        let count = self.report.blocks;
        let member = first.target.address.ip().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "group delivery goes over IP, not a serial line",
            )
        })?;
        let mut sender = GroupSender::open(self.route, member, self.delivery.client).await?;
        let mut counter = members.iter().map(|m| m.counter).max().unwrap_or(0);
        if self.delivery.keys.is_some() {
            self.report.first_counter = Some(counter.saturating_add(1));
        }
        let mut push: Vec<u32> = (0..count).collect();
        // Blocks pushed at least once: only those can be missing for the group path's sake.
        let mut due = 0u32;
        let cycles = self.delivery.cycles.max(1);
        for cycle in 1..=cycles {
            self.report.cycles = cycle;
            let last = cycle == cycles;
            let mut pending: BTreeSet<u32> = push.iter().copied().collect();
            for (k, &n) in push.iter().enumerate() {
                counter = counter.saturating_add(1);
                sender.send(&self.group_block(n, counter)?).await?;
                let now = crate::transfer::unix_seconds(std::time::SystemTime::now());
                self.report.first_transmission_at.get_or_insert(now);
                self.report.last_transmission_at = Some(now);
                pending.remove(&n);
                due = due.max(n + 1);
                if !self.delivery.interval.is_zero() {
                    tokio::time::sleep(self.delivery.interval).await;
                }
                let every = self.delivery.repair_every;
                if every > 0 && (k as u32 + 1).is_multiple_of(every) && k + 1 < push.len() {
                    self.report.transmissions = sender.transmissions;
                    self.round(members, cycle, false, due, &pending, last).await;
                }
            }
            self.report.transmissions = sender.transmissions;
            self.report.group_bytes = sender.bytes;
            self.round(members, cycle, true, due, &pending, last).await;
            push = self.lacking_at(self.delivery.regroup_at.max(1) as usize, count);
            if push.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Block `n` as the group gets it: an unconfirmed ACTION image_block_transfer, protected
    /// with the broadcast key set at invocation counter `ic` when keys are given.
    fn group_block(&self, n: u32, ic: u32) -> std::io::Result<Vec<u8>> {
        let bs = self.report.block_size as usize;
        let start = n as usize * bs;
        let bytes = &self.plan.image[start..(start + bs).min(self.plan.image.len())];
        let params = it::block_parameters(n, bytes);
        let plain = ActionRequest::Normal {
            iip: InvokeIdAndPriority::new((n % 16) as u8, false, true),
            method: it::method(m::IMAGE_BLOCK_TRANSFER),
            parameters: Some(EncodedData::new(&params)),
        }
        .to_bytes();
        let Some(keys) = self.delivery.keys else {
            return Ok(plain);
        };
        let cipher = Keys {
            encryption: keys.broadcast,
            authentication: keys.authentication,
        };
        protect_group(&cipher, &keys.system_title, ic, &plain)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))
    }

    /// The blocks at least `at` members lack, as last read.
    fn lacking_at(&self, at: usize, count: u32) -> Vec<u32> {
        (0..count).filter(|&n| self.lacking(n) >= at).collect()
    }

    /// How many members lack block `n`, as last read (an unreadable member lacks every one).
    fn lacking(&self, n: u32) -> usize {
        self.held
            .iter()
            .filter(|h| h.as_ref().is_none_or(|h| !h[n as usize]))
            .count()
    }

    /// A unicast round: reads every member's bit-string, then repairs point-to-point the
    /// blocks pushed already (`due`, none still `pending` in this cycle) that fewer than
    /// `regroup_at` members lack, or all of them in the `last` cycle.
    async fn round(
        &mut self,
        members: &[Member],
        cycle: u32,
        end_of_cycle: bool,
        due: u32,
        pending: &BTreeSet<u32>,
        last: bool,
    ) {
        let count = self.report.blocks;
        let reads = self.each(members, |target, _| async move {
            read_bitmap(&target, count).await.ok()
        });
        for (i, held) in reads.await.into_iter().enumerate() {
            self.held[i] = held;
        }
        let regroup_at = self.delivery.regroup_at.max(1) as usize;
        let repairable: BTreeSet<u32> = (0..due)
            .filter(|n| !pending.contains(n))
            .filter(|&n| last || self.lacking(n) < regroup_at)
            .collect();
        let wanted: Vec<Vec<u32>> = self
            .held
            .iter()
            .map(|held| match held {
                Some(h) => repairable
                    .iter()
                    .copied()
                    .filter(|&n| !h[n as usize])
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        let (image, bs) = (self.plan.image.clone(), self.report.block_size as usize);
        let repairs = self.each(members, move |target, i| {
            let blocks = wanted[i].clone();
            let image = image.clone();
            async move {
                if blocks.is_empty() {
                    return (Vec::new(), 0);
                }
                repair(&target, &image, bs, &blocks).await
            }
        });
        let mut repaired = 0;
        for (i, (sent, bytes)) in repairs.await.into_iter().enumerate() {
            if sent.is_empty() {
                continue;
            }
            repaired += sent.len() as u64;
            self.report.repair_bytes += bytes;
            *self
                .report
                .repair_blocks
                .entry(members[i].target.name.clone())
                .or_default() += sent.len() as u32;
            if let Some(h) = self.held[i].as_mut() {
                for n in sent {
                    h[n as usize] = true;
                }
            }
        }
        let complete = self
            .held
            .iter()
            .filter(|h| h.as_ref().is_some_and(|h| h.iter().all(|&b| b)))
            .count();
        let incomplete = members
            .iter()
            .zip(&self.held)
            .filter(|(_, h)| h.as_ref().is_none_or(|h| !h.iter().all(|&b| b)))
            .take(BITMAPS_PER_ROUND)
            .map(|(m, h)| MemberBitmap {
                meter: m.target.name.clone(),
                missing: h
                    .as_ref()
                    .map_or(count, |h| h.iter().filter(|&&b| !b).count() as u32),
                bitmap: h
                    .as_ref()
                    .map(|h| h.iter().map(|&b| if b { '1' } else { '0' }).collect()),
            })
            .collect();
        self.report.rounds.push(GroupRound {
            cycle,
            end_of_cycle,
            after_transmissions: self.report.transmissions,
            repaired,
            complete,
            complete_percent: 100.0 * complete as f64 / members.len().max(1) as f64,
            incomplete,
        });
    }

    /// Runs `work` for every member at once (bounded by the campaign's concurrency), in
    /// member order.
    async fn each<T, F, Fut>(&self, members: &[Member], work: F) -> Vec<T>
    where
        T: Send + 'static,
        F: Fn(Arc<Target>, usize) -> Fut,
        Fut: std::future::Future<Output = T> + Send + 'static,
    {
        let tasks: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let semaphore = self.semaphore.clone();
                let job = work(m.target.clone(), i);
                tokio::spawn(async move {
                    let _slot = semaphore.acquire_owned().await.expect("semaphore open");
                    job.await
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await.expect("group round task"));
        }
        out
    }
}

/// Prepares one meter for the group over unicast: its block size and broadcast counter once
/// it is enabled and initiated for the image (or, with `resume`, still initiated from earlier).
async fn prepare(
    target: &Target,
    plan: &Plan,
    resume: bool,
    keyed: bool,
) -> Result<(u32, u32), String> {
    let mut s = Session::open(target, false)
        .await
        .map_err(|e| format!("not reachable: {e}"))?;
    let prepared = prepare_in(&mut s, plan, resume, keyed).await;
    s.close().await;
    prepared
}

async fn prepare_in(
    s: &mut Session,
    plan: &Plan,
    resume: bool,
    keyed: bool,
) -> Result<(u32, u32), String> {
    let block_size = match s
        .get(it::CLASS_ID, it::LOGICAL_NAME, attr::IMAGE_BLOCK_SIZE)
        .await
    {
        Ok(Ok(d)) => d
            .as_u64()
            .filter(|&n| n > 0 && n <= crate::transfer::MAX_BLOCK_SIZE)
            .ok_or("image_block_size is not a usable size")? as u32,
        Ok(Err(r)) => return Err(format!("image_block_size refused: {r}")),
        Err(e) => return Err(e.to_string()),
    };
    let enabled = s
        .get(it::CLASS_ID, it::LOGICAL_NAME, attr::IMAGE_TRANSFER_ENABLED)
        .await
        .map_err(|e| e.to_string())?;
    if !matches!(enabled, Ok(Data::Boolean(true))) {
        let set = s
            .set(
                it::CLASS_ID,
                it::LOGICAL_NAME,
                attr::IMAGE_TRANSFER_ENABLED,
                &Data::Boolean(true),
            )
            .await
            .map_err(|e| e.to_string())?;
        if set != R::SUCCESS {
            return Err(format!("enabling the transfer was refused: {set}"));
        }
    }
    let status = s
        .get(it::CLASS_ID, it::LOGICAL_NAME, attr::IMAGE_TRANSFER_STATUS)
        .await
        .map_err(|e| e.to_string())?
        .ok()
        .and_then(|d| ImageTransferStatus::from_data(&d));
    if !(resume && status == Some(ImageTransferStatus::Initiated)) {
        let params = it::initiate_parameters(&plan.identifier, plan.image.len() as u32);
        let outcome = s
            .action(it::method(m::IMAGE_TRANSFER_INITIATE), Some(params))
            .await
            .map_err(|e| e.to_string())?;
        if outcome.result != R::SUCCESS {
            return Err(format!("initiate refused: {}", outcome.result));
        }
    }
    let counter = if keyed {
        match s.get(class::DATA, BROADCAST_INVOCATION_COUNTER, 2).await {
            Ok(Ok(d)) => d.as_u64().unwrap_or(0) as u32,
            // A meter that does not show its counter: the others' highest is used.
            Ok(Err(_)) => 0,
            Err(e) => return Err(e.to_string()),
        }
    } else {
        0
    };
    Ok((block_size, counter))
}

/// The blocks a meter holds, from its bit-string (attribute 3).
async fn read_bitmap(target: &Target, count: u32) -> Result<Vec<bool>, String> {
    let mut s = Session::open(target, false)
        .await
        .map_err(|e| e.to_string())?;
    let read = s
        .get(
            it::CLASS_ID,
            it::LOGICAL_NAME,
            attr::TRANSFERRED_BLOCKS_STATUS,
        )
        .await;
    s.close().await;
    match read {
        Ok(Ok(Data::BitString(bits))) if bits.len() as u32 >= count => Ok((0..count as usize)
            .map(|n| bits.get(n) == Some(true))
            .collect()),
        Ok(other) => Err(format!("attribute 3 unusable: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Sends `blocks` to one meter point-to-point, confirmed: the blocks it took, and the bytes of
/// the requests sent.
async fn repair(target: &Target, image: &[u8], bs: usize, blocks: &[u32]) -> (Vec<u32>, u64) {
    let Ok(mut s) = Session::open(target, false).await else {
        return (Vec::new(), 0);
    };
    let (mut took, mut bytes) = (Vec::new(), 0u64);
    for &n in blocks {
        let start = n as usize * bs;
        let data = &image[start..(start + bs).min(image.len())];
        bytes += (data.len() as u64) + crate::transfer::BLOCK_REQUEST_HEADER;
        match s
            .action(
                it::method(m::IMAGE_BLOCK_TRANSFER),
                Some(it::block_parameters(n, data)),
            )
            .await
        {
            Ok(o) if o.result == R::SUCCESS => took.push(n),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    s.close().await;
    (took, bytes)
}
