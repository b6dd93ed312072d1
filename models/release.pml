/*
 * release.pml: the release protocol of static-deploy, for Spin.
 * models/README.md states the rules (R1..), maps every step to the code, and lists the
 * invariants (I1..I5), the mutants (-DMUT_*) and the measured runs; check.sh runs them all.
 *
 * The live bucket, abstracted. A content c (1..NC) is one build's set of files:
 *   H[c]  its hashed file: a name unique to that content, so the name fixes the bytes;
 *   S     the hashed file every build shares;
 *   U     the one unhashed (mutable) name; it holds UB(c) of the content written there last.
 * Release r (1..NR) is built with content r; with -DREBUILD, release NR is a rebuild of release 2
 * (a new id, content 2: deployed over 2 it changes nothing). CI, an attacker, may restage release
 * k's key with content CX under the same release id k. The probes, run once everything else has
 * stopped, deliver again a release left in flight, then deploy release PROBE with fresh content CP.
 *
 * The function (SyncFunction, reserved concurrency 1) is ONE process, Fn: it takes events from a
 * pool in any order (late, out of order), some twice (S3 duplicates), a crashed one again (Lambda's
 * retry, any time later). Concurrent with it, between any two of its S3 requests: the network (a
 * cutover PUT of an invocation that died lands late), S3's clock, an operator, CI, a pinned app,
 * and with -DREPAIR_PROC the repair pass as a function of its own.
 *
 * With -DSHARDED, release SHR (NR) is large and goes through the Step Functions state machine
 * (lambda_fn/staticsync/sharded/): the deploy event is the handoff, and PLAN (in Fn) judges the
 * release, writes its history record and claims its journal place before any upload, then writes
 * the shard list; the SHARD children (process Shard, concurrent with Fn) upload the hashed files
 * IfNoneMatch, verify them and write one done-marker each; FINISH (an event of Fn) checks every
 * marker and the live ETag, goes on only while PLAN's claim is the topmost one (else back to PLAN;
 * -DFINISH_RECLAIM: it claims on top itself), then writes the unhashed names and cuts over.
 */

#ifndef NO_P2
#define NO_P2 0         /* 1: skip the second probe (a check of liveness, not of safety) */
#endif
#ifndef NR
#define NR 3            /* releases 1..NR (good builds); the content of release r is r */
#endif
#ifndef KEEP
#define KEEP 1          /* retention keeps the last KEEP replaced releases */
#endif
#ifndef NCRASH
#define NCRASH 1        /* invocations that die in one run, each at any write, before or after it lands */
#endif
#ifndef NDUP
#define NDUP 0          /* extra deliveries of events (a crash after the last write is one too) */
#endif
#ifndef MAXT
#define MAXT 1          /* S3's clock runs 0..MAXT: LastModified is coarse, so dates tie */
#endif
#ifndef PINLEN
#define PINLEN 1        /* a pin expires PINLEN ticks after it is declared */
#endif
#ifndef NPRUNE
#define NPRUNE 1        /* scheduled retention runs */
#endif
#ifndef NREPAIR
#define NREPAIR 1       /* scheduled repair runs (in the function; -DREPAIR_PROC: a function of its own) */
#endif

#ifndef SHR
#define SHR NR          /* -DSHARDED: the release that goes sharded */
#endif
#ifndef NSH
#define NSH 2           /* -DSHARDED: shards; shard 1 holds H[c], shard NSH holds S (and the bad member) */
#endif

#define NQ      2               /* rollback requests: 1 = back to release 1 replacing 2; 2 = the reverse */
#define QT(q)   ((q) == 1 -> 1 : 2)
#define QL(q)   ((q) == 1 -> 2 : 1)
#define PROBE   (NR+1)          /* release id of the probe */
#define CX      (NR+1)          /* content of the attacker's artifact */
#define CP      (NR+2)          /* content of the probe */
#define NC      (NR+2)
#define UB(c)   ((c) == 2 -> 1 : (c))   /* unhashed bytes: releases 1 and 2 ship the same ones */
#define EPRUNE  (NR+NQ+1)               /* events: 1..NR deploys, NR+q request q, prune, repair */
#define EREPAIR (NR+NQ+2)
#ifdef SHARDED
#define EFIN    (NR+NQ+3)               /* the FINISH step of the sharded execution */
#define NEV     (NR+NQ+3)
#define MAXP    (NR+NQ+NDUP+2*NCRASH+8) /* journal places the model can hold (asserted); re-plans claim too */
#else
#define EFIN    255
#define NEV     (NR+NQ+2)
#define MAXP    (NR+NQ+NDUP+2*NCRASH+6) /* journal places the model can hold (asserted) */
#endif
#define UNK     255                     /* previous place unknown: the metadata was lost */
#define BIT(x)  (1 << (x))

/* verdicts of a judgement */
#define GO        0
#define UNCHANGED 1
#define REJECT    2
#define REFUSE    3
#define SUCCESS   4

#ifdef MUT_STRICT_OLDER
#define OLDER(a, b) ((a) < (b))
#else
#define OLDER(a, b) ((a) <= (b))        /* stored at or before: S3 dates tie */
#endif
#ifdef MUT_FUNCTION_CLOCK
#define PCLOCK (now + MAXT)             /* the function's clock, ahead of S3's */
#else
#define PCLOCK now                      /* S3's: the LastModified of the marker just written */
#endif
#ifdef MUT_UNCONDITIONAL_CUTOVER
#define IFMATCH(v) true
#else
#define IFMATCH(v) (m_ver == (v))       /* IfMatch the ETag read; version 0 = none: IfNoneMatch */
#endif
#ifdef MUT_REPAIR_TRUSTS
#define TRUSTED(ra, rc) true
#else
#define TRUSTED(ra, rc) ((ra) == (rc))  /* the staged artifact holds the record the deployer wrote */
#endif
#ifdef MUT_PIN_RECORD_ONLY
#define COMPLETE(r) true
#else
#define COMPLETE(r) h_ok[r]             /* the release's files are all up (inline: its record; sharded: FINISH's marker) */
#endif
#ifdef MUT_REPAIR_INFLIGHT
#define NO_CLAIM_ABOVE(s) true
#else
#define NO_CLAIM_ABOVE(s) (j_rel[(s) + 1] == 0)   /* no deploy in flight (read after the LIST) */
#endif

/* ---- the live bucket (S3) ---- */
bool H[NC+1];           /* hashed file of content c exists (its name fixes its bytes) */
bool S;                 /* the shared hashed file exists */
byte U;                 /* unhashed file: UB() of the bytes it holds, 0 = absent */
byte u_ver;             /* its ETag */
byte m_c;               /* staticfiles.json: the content it is (0 = nothing live) */
byte m_ver;             /* its ETag (0 = no object) */
byte m_t;               /* its LastModified */
bool m_meta;            /* its metadata is there (an operator's re-put loses it) */
byte m_rel, m_seq, m_req, m_recent;   /* metadata: release, place, request, releases live before (bits) */
byte h_c[NR+2];         /* .releases/<r>/history.jsonl: the content it records, 0 = none */
byte h_t[NR+2];         /* its LastModified */
bool h_ok[NR+2];        /* every file of the release is up: the inline record (written after them), or
                         * .releases/<r>/complete written by a sharded FINISH once every marker is there */
#ifdef PLANNED_AGAINST
byte h_pv[NR+2];        /* (variant) the live ETag the attempt that wrote it planned against */
#else
hidden byte h_pv[NR+2];
#endif
byte j_rel[MAXP+2], j_c[MAXP+2], j_q[MAXP+2], j_prev[MAXP+2];  /* .releases/journal/<p>.json */
bool j_mut[MAXP+2];     /* the entry lists the unhashed name */
byte q_place[NQ+1];     /* .releases/requests/<q>.json: the live place it ran against, 0 = none */
byte pin_e[NR+1];       /* a pin on release r, expiring at S3 time pin_e[r] (0 = none) */
bool retired[NC+1];     /* retention's marker: the files of content c are being deleted */
byte now;               /* S3's clock */
/* ---- the artifacts bucket (CI writes it) ---- */
byte staged[NR+1];      /* staging/<r>.zip holds this content */
/* ---- events and faults ---- */
byte due[NEV+1];        /* deliveries still to come of each event */
byte ndue;              /* their sum */
byte ndup = NDUP;
byte crashes;
bool ci_done, fn_done;
bool pend;              /* a cutover PUT of an invocation that died, not landed yet */
byte pd_r, pd_c, pd_q, pd_p, pd_v, pd_rec;
byte p2r;               /* the release the second probe delivers again */
/* ---- the sharded execution of release SHR (Step Functions; -DSHARDED) ---- */
#ifdef SHARDED
#define SHV byte
#define SHB bool
#else
#define SHV hidden byte /* constant without -DSHARDED: kept out of the state vector */
#define SHB hidden byte
#endif
SHV x_run;         /* 0 no execution; 1 the Map over the shards runs; 2 the Map ended, FINISH due */
SHV x_c, x_p, x_lv, x_prv, x_rec;   /* the plan (the shard list, a deployer-only key): content,
                         * the place claimed, the ETag planned against, previous place, recent */
SHB x_wh, x_ws, x_wu, x_dirty;      /* what it uploads; the dirty names found by PLAN's walk */
SHB mk[NSH+1];     /* the shards' done-markers, of this plan (keyed by its claimed place) */
SHB x_bad;         /* -DBAD_MEMBER: release SHR's staged artifact may hold a bad member (a ghost
                         * too: no process but the shard that verifies it decides by it) */
/* ---- ghosts: the truth the invariants speak of (no process decides by them) ---- */
byte g_live;            /* the release live now */
byte g_place;           /* its place */
byte g_prevc[KEEP];     /* the content live before each of the last KEEP cutovers */
bool g_was[NR+2];       /* the release was live at some time */
bool g_ran[NQ+1];       /* the request cut over */
bool app_run[NR+1];     /* an app pinned to r runs */
bool dH[NC+1], dS, dU;  /* the operator deleted that file (drift), until it is written again */
hidden byte ck;

/* I1 (the live site is one whole release) and I2 for pins: asserted after every write. */
inline check() {
  /* I1a: every hashed name of the live manifest is there (its name fixes its bytes) */
  assert(m_c == 0 || ((H[m_c] || dH[m_c]) && (S || dS)));
  /* I1b: the unhashed name holds the live release's bytes whenever no claim is above the live place */
  assert(m_c == 0 || j_rel[g_place + 1] != 0 || U == UB(m_c) || dU);
  /* I1c: the live release's record is the live manifest's content */
  assert(g_live == 0 || h_c[g_live] == m_c);
  /* I2 (pins): an app that started on its pin finds its files until the pin expires (S3's clock) */
  ck = 1;
  do
  :: ck <= NR -> assert(!app_run[ck] || now >= pin_e[ck] || ((H[h_c[ck]] || dH[h_c[ck]]) && (S || dS))); ck++
  :: else -> break
  od;
  ck = 0
}

/* I2 (retention): a deleted file is needed by no retained release. Stated with the truth: the live
 * content, the contents live before the last KEEP cutovers, every claim above the live place. (Pins:
 * a pin declared after retention's marker is not honoured, its app refuses to start; what a started
 * app needs is checked in check().) */
inline retained_check(x) {
  assert(x != m_c);
  ck = 0;
  do :: ck < KEEP -> assert(g_prevc[ck] != x); ck++ :: else -> break od;
  ck = g_place + 1;
  do :: j_rel[ck] != 0 -> assert(j_c[ck] != x); ck++ :: else -> break od;
  ck = 0
}

/* The cutover lands: staticfiles.json with its metadata. I3 is asserted here. */
inline cutover(r, c, q, p, rec) {
  if
  :: q == 0 -> assert(!g_was[r] || (g_live == r && g_place == p))  /* I3: a release that was live never comes back by a deploy (rewriting the live manifest the same is no coming back) */
  :: else -> assert(!g_ran[q] && g_was[r] && g_live == QL(q))  /* I3: once, to a release that was live, replacing L */
  fi;
  assert(!(x_bad && q == 0 && r == SHR));   /* I4 (sharded): an artifact a shard rejects never goes live */
  ck = KEEP - 1;
  do :: ck > 0 -> g_prevc[ck] = g_prevc[ck - 1]; ck-- :: else -> break od;
  g_prevc[0] = m_c;
  m_c = c; m_meta = 1; m_rel = r; m_seq = p; m_req = q; m_recent = rec; m_t = now; m_ver++;
  g_live = r; g_place = p; g_was[r] = 1;
  if :: q > 0 -> g_ran[q] = 1 :: else -> skip fi;
  ck = 0
}

#define MAYCRASH (crashes < NCRASH && !probe)
/* One S3 write by Fn: it lands and Fn goes on, it lands and the invocation dies, or the invocation
 * dies before it lands. */
#define STEP(...) \
  if \
  :: d_step { __VA_ARGS__; check() } \
  :: MAYCRASH -> d_step { __VA_ARGS__; check(); crashes++; printf("    ... and the invocation dies\n") }; goto crash \
  :: MAYCRASH -> d_step { crashes++; printf("    the invocation dies before that write\n") }; goto crash \
  fi
/* The same for the repair pass, which may run in a process of its own: a crash ends the pass. */
#define RSTEP(...) \
  if \
  :: d_step { __VA_ARGS__; check() } \
  :: MAYCRASH -> d_step { __VA_ARGS__; check(); crashes++; ok = 0; printf("    ... and the pass dies\n") } \
  :: MAYCRASH -> d_step { crashes++; ok = 0; printf("    the pass dies before that write\n") } \
  fi

/* What the deploy writes, from the live state read (model/plan.py make_plan). Inside a d_step. */
inline plan_from_read() {
  if :: lmeta && lc != 0 -> lkc = h_c[m_rel] :: else -> lkc = 0 fi;   /* the live record, if known */
  wh = (lkc != c); ws = (lkc == 0); wu = (lkc == 0 || UB(lkc) != UB(c));
  if :: lmeta -> base = m_seq :: else -> base = 0 fi;
  if :: lc == 0 -> prv = 0 :: lmeta && lc != 0 -> prv = m_seq :: else -> prv = UNK fi;
  if :: lmeta && lc != 0 -> rec = m_recent | BIT(m_rel) :: else -> rec = 0 fi
}

/* (4) of a deploy: walk from the live place to the first free place; every entry on the way is a
 * deploy that never cut over and may have written unhashed names (dirty). Resume at our own entry
 * only when it is the topmost and was planned against this very live place; else claim the first
 * free place. No cap on the walk. */
inline walk_and_claim() {
  p = base + 1; dirty = 0; ok = 0;
  do
  :: j_rel[p] == 0 -> break
#ifdef MUT_RESUME_ANYWHERE
  :: j_rel[p] != 0 && j_rel[p] == r && j_c[p] == c && j_q[p] == q && j_prev[p] == prv -> ok = 1; break
#elif defined(MUT_RESUME_STALE)
  :: j_rel[p] != 0 && j_rel[p] == r && j_c[p] == c && j_q[p] == q && j_rel[p + 1] == 0 -> ok = 1; break
#else
  :: j_rel[p] != 0 && j_rel[p] == r && j_c[p] == c && j_q[p] == q && j_prev[p] == prv && j_rel[p + 1] == 0 -> ok = 1; break
#endif
  :: else ->
     dirty = dirty || j_mut[p]; p++
  od;
  assert(p < MAXP);                            /* a bound of the model, not of the protocol */
#ifdef MUT_CLAIM_CAP
  if
  :: p > base + MUT_CLAIM_CAP && !ok -> ok = 2; printf("  gives up: %d claims stepped over (LiveStateError)\n", p - base - 1)
  :: else -> skip
  fi;
#endif
  if
  :: ok == 2 -> skip
  :: !ok -> j_rel[p] = r; j_c[p] = c; j_q[p] = q; j_prev[p] = prv; j_mut[p] = (wu || dirty);
     printf("  claim journal place %d (release %d, previous place %d, lists U: %d; dirty: %d)\n", p, r, prv, wu || dirty, dirty)
  :: else -> printf("  resume at our own journal place %d (dirty: %d)\n", p, dirty)
  fi
}

/* The repair pass (operations/repair.py): restores the live release's files from its retained
 * artifact, never while a deploy is in flight, never from an artifact that is not the live record. */
inline repair_pass() {
  d_step {
    ok = m_meta && m_c != 0;
    rv = m_ver; rs = m_seq; rc = h_c[m_rel]; ra = staged[m_rel];
    ok = ok && rc != 0 && TRUSTED(ra, rc);
    printf("repair pass: live release %d (content %d), staged artifact content %d: %d\n", m_rel, rc, ra, ok)
  }
  if
  :: ok ->
    d_step { lh = H[rc]; ls = S; lu = U; luv = u_ver }               /* the LIST */
    d_step { ok = (m_ver == rv) && NO_CLAIM_ABOVE(rs); printf("  listed U=%d H=%d S=%d; manifest unchanged and no claim above place %d: %d\n", lu, lh, ls, rs, ok) }
    if
    :: ok && lu != UB(rc) -> RSTEP(if :: u_ver == luv -> U = UB(ra); u_ver++; dU = 0; printf("  repair PUT U = %d\n", U) :: else -> printf("  repair PUT U refused (IfMatch)\n") fi)
    :: else -> skip
    fi;
    if
    :: ok && !lh -> RSTEP(if :: !H[rc] -> H[rc] = 1; dH[rc] = 0; printf("  repair PUT H[%d]\n", rc) :: else -> skip fi)
    :: else -> skip
    fi;
    if
    :: ok && !ls -> RSTEP(S = 1; dS = 0; printf("  repair PUT S\n"))
    :: else -> skip
    fi
  :: else -> skip
  fi;
  d_step { ok = 0; rv = 0; rs = 0; rc = 0; ra = 0; lh = 0; ls = 0; lu = 0; luv = 0 }
}

#ifdef SHARDED
/* The SHARD children (sharded/shard.py), the Map over the shard list: child i PUTs its hashed files
 * IfNoneMatch (one that exists is left as it is, with its old LastModified), verifies them and writes
 * its done-marker. A child can die after its PUT and be retried by the Map, or fail for good (retries
 * exhausted, before its PUT: nothing of it is up). The child holding a bad member rejects the artifact
 * (-DBAD_MEMBER) and writes no marker. Then the Map ends and the engine calls FINISH: whatever the
 * children did (FINISH must not trust it). Shard 1 holds H[c], shard NSH holds S. */
#define SH_PUT(i) if :: (i) == 1 && x_wh && !H[x_c] -> H[x_c] = 1; dH[x_c] = 0 :: (i) == NSH && x_ws -> S = 1; dS = 0 :: else -> skip fi
#define SH_THERE(i) (((i) != 1 || !x_wh || H[x_c]) && ((i) != NSH || !x_ws || S))
inline shard_children() {
  i = 1;
  do
  :: i > NSH -> break
  :: i <= NSH ->
     sok = 0;
     do
     :: sok -> break
     :: !sok && i == NSH && x_bad -> printf("  shard %d finds a bad member: the artifact is rejected, no marker\n", i); break
     :: !sok && !(i == NSH && x_bad) ->
        if
        :: d_step { SH_PUT(i); check(); printf("  shard %d: PUT its files (IfNoneMatch)\n", i) }
           d_step { sok = SH_THERE(i); mk[i] = sok; printf("  shard %d verifies its files: %d; done-marker %d\n", i, sok, sok) }
        :: MAYCRASH -> d_step { SH_PUT(i); check(); crashes++; printf("  shard %d: PUT its files, and the child dies (the Map retries it)\n", i) }
        :: MAYCRASH -> d_step { crashes++; printf("  shard %d fails for good before its PUT: no marker\n", i) }; break
        fi
     od;
     i++
  od;
  skip;
  d_step {
    x_run = 2; i = 0; sok = 0;
    if :: !probe -> due[EFIN]++; ndue++ :: else -> skip fi;
    printf("  the Map ends: the engine calls FINISH\n") }
}

proctype Shard() {
  bool probe; byte i, sok;
  do
  :: x_run == 1 -> shard_children()
  :: fn_done && x_run == 0 -> break
  od
}
#endif

proctype Fn(byte probe) {   /* probe: 0 the function, 1 the fresh probe, 2 redelivery of release p2r */
  byte e, r, c, q, verdict;                    /* the event: release r with content c, request q */
  byte lv, lc; bool lmeta;                     /* the live state read: ETag, content, metadata there */
  byte lkc, base, prv, rec, p;                 /* the plan */
  bool wh, ws, wu, dirty;
  byte ok;
  byte keep, cand, k;                          /* retention */
  byte rv, rs, rc, ra, lu, luv; bool lh, ls;   /* repair */
  bool shd; byte i, sok;                       /* a sharded FINISH; the shards run by a probe */

pick:
  if
  :: probe == 1 -> r = PROBE; c = CP; q = 0; goto deploy
  :: probe == 2 -> r = p2r; q = 0; goto deploy
  :: else -> skip
  fi;
  /* the next event: any one due (late, out of order); stop when none is due and CI is done */
  if
  :: ndue == 0 && ci_done && x_run == 0 -> goto finish
  :: ndue > 0 ->
     atomic {
       k = NEV;
       do :: due[k] == 0 -> k-- :: else -> break od;    /* the last event due */
       e = 1;
       do
       :: due[e] > 0 -> break
       :: e < k -> e++
       od;
       k = 0;
       if
       :: ndup > 0 && e <= NR + NQ -> ndup--          /* delivered now and again later */
       :: due[e]--; ndue--
       fi;
       printf("\nfn: event %d (1..%d deploy of that key, then requests 1..%d, prune, repair)\n", e, NR, NQ)
     }
  fi;
  if
  :: e <= NR -> r = e; q = 0; goto deploy
  :: e > NR && e <= NR + NQ -> q = e - NR; goto rollback
  :: e == EPRUNE -> goto prune
  :: e == EREPAIR -> repair_pass(); goto done
#ifdef SHARDED
  :: e == EFIN -> goto finish_step
#endif
  fi;

/* ---------- rollback request q: back to QT(q) only while QL(q) is live (operations/rollback.py) ---------- */
rollback:
  skip;
  d_step {
    lv = m_ver; lmeta = m_meta; lc = m_c;
    if
    :: !(lmeta && lc != 0) -> verdict = REFUSE                  /* the live place is unknown: not run */
    :: lmeta && lc != 0 && m_req == q -> verdict = SUCCESS      /* the live manifest says it ran */
#ifdef MUT_REPORT_ALREADY_LIVE
    :: lmeta && lc != 0 && m_req != q && m_rel == QT(q) -> verdict = SUCCESS
#endif
    :: lmeta && lc != 0 && m_req != q && m_rel != QL(q) -> verdict = REFUSE   /* rollback_conflict */
    :: else ->
       /* the target was live: the journal chain from the live place names it */
       verdict = REFUSE; k = m_seq;
       if :: j_rel[k] != m_rel -> k = 0 :: else -> skip fi;
       do
       :: k == 0 || k == UNK -> break
       :: else -> if :: j_rel[k] == QT(q) -> verdict = GO; break :: else -> k = j_prev[k] fi
       od;
       k = 0
    fi;
    r = QT(q); c = staged[r];
    plan_from_read();
    printf("  request %d (back to %d replacing %d): live %d at place %d, meta %d; verdict %d (0 go, 3 refused, 4 success)\n", q, QT(q), QL(q), m_rel, m_seq, m_meta, verdict)
  }
  if
  :: verdict == SUCCESS -> goto success
  :: verdict == REFUSE -> goto done
  :: else -> skip
  fi;
#ifndef MUT_UNCLAIMED_REQUEST
  /* claim the request, once, with the live place it runs against; a retry against that place resumes */
  STEP(if :: q_place[q] == 0 -> q_place[q] = base; ok = 1 :: q_place[q] == base -> ok = 1 :: else -> ok = 0 fi;
       printf("  claim request %d against place %d: %d\n", q, base, ok));
  if :: !ok -> goto done :: else -> skip fi;   /* claimed against another place: not run again, not success */
#endif
  goto hashed;

/* ---------- a deploy of release r (deploy/run.py, model/plan.py) ---------- */
deploy:
  skip;
#ifdef SHARDED
  /* the handoff (sharded/handoff.py): the execution is named by the release id, so one runs at a time */
  if
  :: r == SHR && x_run != 0 && probe != 1 -> printf("  handoff: release %d's execution runs already\n", r); goto done
  :: else -> skip
  fi;
#endif
  d_step {
    lv = m_ver; lmeta = m_meta; lc = m_c;
    if :: probe != 1 -> c = staged[r] :: else -> skip fi;
    if
    :: lmeta && lc != 0 && m_rel == r && h_c[r] == c -> verdict = UNCHANGED   /* live already */
    :: lmeta && lc != 0 && m_rel == r && h_c[r] != c -> verdict = REJECT      /* release_id_reused */
    :: lmeta && lc != 0 && m_rel != r && (m_recent & BIT(r)) -> verdict = REFUSE   /* older: was live */
    :: else ->
       /* in flight: our own deploy entry above the live place (a retry after a crash) */
       ok = 0; k = m_seq + 1;
       do
       :: lmeta && j_rel[k] != 0 -> ok = ok || (j_rel[k] == r && j_c[k] == c && j_q[k] == 0); k++
       :: else -> break
       od;
       k = 0;
#ifdef MUT_NO_INFLIGHT_EXCEPTION
       ok = 0;
#endif
       if
#ifdef PLANNED_AGAINST
       /* variant (model/order.py superseded): older when recorded while another live state was live */
       :: h_c[r] != 0 && h_pv[r] != m_ver && (PLANNED_AGAINST == 1 || !ok) -> verdict = REFUSE   /* =2: with the in-flight exception */
#else
       :: lc != 0 && h_c[r] != 0 && OLDER(h_t[r], m_t) && !ok -> verdict = REFUSE   /* older: recorded at or before the last cutover */
#endif
       :: else -> verdict = GO
       fi;
       ok = 0
    fi;
    plan_from_read();
    printf("  deploy release %d content %d: live content %d release %d place %d meta %d; verdict %d (0 go, 1 unchanged, 2 rejected, 3 older)\n", r, c, m_c, m_rel, m_seq, m_meta, verdict)
  }
  if
  :: verdict == REJECT -> goto rejected
  :: verdict == UNCHANGED || verdict == REFUSE -> goto done
  :: else -> skip
  fi;
#ifdef SHARDED
  if :: r == SHR && q == 0 && probe != 1 && lkc != c -> goto plan_sharded :: else -> skip fi;
#endif

hashed:
#ifdef MUT_CLAIM_EARLY
  if :: lkc != c -> STEP(walk_and_claim()) :: else -> skip fi;   /* the claim goes out beside the hashed PUTs */
#endif
#ifdef MUT_HISTORY_FIRST
  STEP(if :: h_c[r] == 0 -> h_c[r] = c; h_t[r] = now; h_pv[r] = lv; ok = 1 :: h_c[r] == c -> ok = 1 :: else -> ok = 0 fi;
        if :: ok -> h_ok[r] = 1 :: else -> skip fi;
        printf("  PUT history of %d (t=%d): %d\n", r, now, ok));
  if :: !ok -> goto rejected :: else -> skip fi;
#endif
  /* (3) content-addressed PUTs (IfNoneMatch; an existing one holds these very bytes) */
  if :: wh -> STEP(if :: !H[c] -> H[c] = 1; dH[c] = 0 :: else -> skip fi; printf("  PUT H[%d]\n", c)) :: else -> skip fi;
  if :: ws -> STEP(S = 1; dS = 0; printf("  PUT S\n")) :: else -> skip fi;
#ifndef MUT_HISTORY_FIRST
  /* then the history record, write-once */
  STEP(if :: h_c[r] == 0 -> h_c[r] = c; h_t[r] = now; h_pv[r] = lv; ok = 1 :: h_c[r] == c -> ok = 1 :: else -> ok = 0 fi;
        if :: ok -> h_ok[r] = 1 :: else -> skip fi;
        printf("  PUT history of %d (t=%d): %d\n", r, now, ok));
  if :: !ok -> goto rejected :: else -> skip fi;   /* release_id_reused */
#endif
  if :: lkc == c -> goto done :: else -> skip fi; /* no change: the record is kept (pinnable); no claim, no cutover */

#ifndef MUT_CLAIM_EARLY
  /* (4) claim the next free place, only now */
  STEP(walk_and_claim());
  if :: ok == 2 -> goto done :: else -> skip fi;     /* raised; every retry gives up the same way */
#endif
#ifdef MUT_NO_DIRTY
  dirty = 0;
#endif
  /* (5) the unhashed names: this release's changed ones and every dirty one */
unhashed:
  if :: wu || dirty -> STEP(U = UB(c); u_ver++; dU = 0; printf("  PUT U = %d\n", U)) :: else -> skip fi;

  /* (6) the cutover, conditional on the ETag read in (1) */
  if
  :: d_step {
       if
       :: IFMATCH(lv) -> cutover(r, c, q, p, rec); ok = 1; printf("  CUTOVER: release %d live at place %d (t=%d)\n", r, p, now);
          if :: shd -> x_run = 0 :: else -> skip fi;  /* the execution succeeded */
          assert(U == UB(c) || dU)   /* I1b at our own cutover */
       :: else -> ok = 0; printf("  cutover refused: the live manifest changed (412)\n")
       fi;
       check() }
  :: MAYCRASH -> d_step { crashes++; printf("  the invocation dies before its cutover\n") }; goto crash
  :: MAYCRASH -> d_step {
       if :: IFMATCH(lv) -> cutover(r, c, q, p, rec); assert(U == UB(c) || dU) :: else -> skip fi;
       check(); crashes++; printf("  CUTOVER %d at place %d (if it matched), then the invocation dies\n", r, p) }; goto crash
  :: MAYCRASH && !pend -> d_step {            /* sent; lands late, after other invocations ran, or never */
       pend = 1; pd_r = r; pd_c = c; pd_q = q; pd_p = p; pd_v = lv; pd_rec = rec; crashes++;
       printf("  cutover of %d at place %d sent; the invocation dies before it lands\n", r, p) }; goto crash
  fi;
  if
  :: ok && q > 0 -> goto success
  :: ok && q == 0 -> goto done
  :: !ok && q > 0 -> goto rollback             /* lost the race: read again, judge again */
  :: !ok && q == 0 && !shd -> goto deploy
  :: !ok && shd -> d_step { x_run = 0; e = SHR; shd = 0 }; goto deploy   /* back to PLAN */
  fi;

#ifdef SHARDED
/* ---------- PLAN of a sharded deploy (sharded/plan.py), judged above as an inline deploy ---------- */
plan_sharded:
  /* the history record (listing the files) and the claim, before any upload */
  STEP(if :: h_c[r] == 0 -> h_c[r] = c; h_t[r] = now; h_pv[r] = lv; ok = 1 :: h_c[r] == c -> ok = 1 :: else -> ok = 0 fi;
        printf("  PLAN: PUT history of %d (t=%d): %d\n", r, now, ok));
  if :: !ok -> goto rejected :: else -> skip fi;   /* release_id_reused, before the claim */
#ifndef MUT_CLAIM_AT_FINISH
  STEP(walk_and_claim());
#endif
  /* the shard list (a deployer-only key); then the Map starts */
  STEP(x_c = c; x_p = p; x_lv = lv; x_prv = prv; x_rec = rec; x_wh = wh; x_ws = ws; x_wu = wu; x_dirty = dirty;
       k = 1; do :: k <= NSH -> mk[k] = 0; k++ :: else -> break od; k = 0; x_run = 1;
       printf("  PLAN: PUT the shard list (place %d, planned against ETag %d); the Map starts\n", p, lv));
  if :: probe -> shard_children(); goto finish_step :: else -> goto done fi;

/* ---------- FINISH of a sharded deploy (sharded/finish.py) ---------- */
finish_step:
  skip;
  d_step {
    r = SHR; q = 0; c = x_c; p = x_p; lv = x_lv; prv = x_prv; rec = x_rec; wh = x_wh; ws = x_ws; wu = x_wu; shd = 1;
    if :: prv == UNK -> base = 0 :: else -> base = prv fi;
    ok = 1;
#ifndef MUT_TRUST_ENGINE
    k = 1; do :: k <= NSH -> ok = ok && mk[k]; k++ :: else -> break od;   /* every shard's marker */
#endif
#ifdef MUT_STALE_FINISH
    lv = m_ver;                                 /* conditions the cutover on the ETag it just read */
#endif
    if
    :: ok && m_ver == lv -> verdict = GO
    :: ok && m_ver != lv -> verdict = REFUSE      /* a cutover (or a re-put) since PLAN: back to PLAN */
    :: else -> verdict = REJECT
    fi;
    if :: ok -> h_ok[r] = 1 :: else -> skip fi;  /* .releases/<r>/complete: every file is up */
    k = 0;
    printf("  FINISH of %d: markers %d; live ETag %d, planned against %d\n", r, ok, m_ver, lv)
  }
  if
  :: verdict == REJECT -> d_step { x_run = 0; printf("  FINISH refuses: a marker is missing; the execution fails, its claim is dead\n") }; goto done
  :: verdict == REFUSE -> d_step { x_run = 0; e = SHR; shd = 0; printf("  FINISH: the live state moved since PLAN: back to PLAN\n") }; goto deploy
  :: verdict == GO -> skip
  fi;
#ifdef MUT_FINISH_AT_PLAN
  dirty = x_dirty;                              /* at PLAN's claim, with the dirty names PLAN found */
#elif defined(MUT_FINISH_NO_RECLAIM)
  d_step {                                      /* at PLAN's claim, with the dirty names of every claim now */
    dirty = 0; k = base + 1;
    do :: j_rel[k] != 0 -> if :: k != p -> dirty = dirty || j_mut[k] :: else -> skip fi; k++ :: else -> break od;
    k = 0 }
#elif defined(FINISH_RECLAIM) || defined(MUT_CLAIM_AT_FINISH)
  /* (a fix, F12) claim again by R5: resume at PLAN's claim only if it is still the topmost one;
   * else claim the first free place, above every claim made while the shards ran, with all their
   * dirty names (the files stayed retained: PLAN's claim was above the live place all along) */
  STEP(walk_and_claim());
#else
  /* (the fix sharded/finish.py has, F12) the plan judged again must resume at PLAN's claim: the
   * topmost one (planned against the same live place: the ETag is the same). Else back to PLAN,
   * which claims above every claim made while the shards ran, and runs the shards again. */
  d_step {
    k = base + 1; dirty = 0; ok = 0;
    do
    :: j_rel[k] == 0 -> break
    :: j_rel[k] != 0 && k == p && j_rel[k + 1] == 0 -> ok = 1; break
    :: else -> dirty = dirty || j_mut[k]; k++
    od;
    k = 0;
    if :: !ok -> x_run = 0; e = SHR; shd = 0; printf("  FINISH: PLAN's claim is no longer the topmost: back to PLAN\n")
       :: else -> printf("  FINISH: PLAN's claim %d is the topmost (dirty: %d)\n", p, dirty) fi }
  if :: !ok -> goto deploy :: else -> skip fi;
#endif
  goto unhashed;
#endif

/* ---------- retention (operations/prune.py, model/retention.py) ---------- */
prune:
  skip;
  d_step {
    keep = 0; cand = 0;
    ok = m_meta && m_c != 0 && j_rel[m_seq] == m_rel;   /* else refused: the order is unknown */
    if
    :: ok ->
      keep = BIT(m_c);
      k = m_seq; p = 0;
      do                                                 /* the last KEEP replaced, by the journal chain */
      :: p == KEEP -> break
      :: p < KEEP && j_prev[k] == UNK -> ok = 0; break   /* the chain runs into the unknown: refused */
      :: p < KEEP && j_prev[k] == 0 -> break
      :: p < KEEP && j_prev[k] != 0 && j_prev[k] != UNK -> k = j_prev[k]; keep = keep | BIT(j_c[k]); p++
      od;
#ifndef MUT_PRUNE_INFLIGHT
      k = m_seq + 1;                                     /* every release claimed above the live place */
      do :: j_rel[k] != 0 -> keep = keep | BIT(j_c[k]); k++ :: else -> break od;
#endif
      k = 1;                                             /* every release pinned beyond now */
      do
      :: k <= NR -> if :: pin_e[k] > PCLOCK && h_c[k] != 0 -> keep = keep | BIT(h_c[k]) :: else -> skip fi; k++
      :: else -> break
      od;
      k = 1;
      do
      :: k <= NC -> if :: H[k] && !(keep & BIT(k)) -> cand = cand | BIT(k) :: else -> skip fi; k++
      :: else -> break
      od
    :: else -> skip
    fi;
    printf("prune: keeps contents (bits) %d, deletes the files of contents (bits) %d; refused: %d\n", keep, cand, !ok);
    k = 1; p = 0; keep = 0
  }
  do
  :: !ok || k > NC -> break
  :: ok && k <= NC && !(cand & BIT(k)) -> k++
  :: ok && k <= NC && (cand & BIT(k)) ->
#ifndef MUT_NO_MARKER
     STEP(retired[k] = 1; printf("  PUT retired marker of content %d\n", k));                     /* the marker first: a pin declared later sees it */
#endif
     d_step {                                            /* then read the pins again */
       p = 1;
       do
       :: p <= NR -> if :: h_c[p] == k && pin_e[p] > PCLOCK -> cand = cand & ~BIT(k) :: else -> skip fi; p++
       :: else -> break
       od;
       p = 0
     }
     if
     :: cand & BIT(k) -> STEP(retained_check(k); H[k] = 0; printf("  DELETE H[%d]\n", k))
     :: else -> skip
     fi;
     k++
  od;
  goto done;

rejected:
  /* I4: a rejected artifact holds no place in the order */
  skip;
  d_step {
    printf("  rejected (release_id_reused)\n");
    k = 1;
    do :: k <= MAXP -> assert(!(j_rel[k] == r && j_c[k] == c)); k++ :: else -> break od;
    k = 0
  }
  goto done;

success:
  printf("  request %d reported as run\n", q);
  assert(g_ran[q]);                           /* I5: reported as run only if it ran */
  goto done;

crash:
  /* the invocation died; Lambda delivers a deploy or request event again, later */
  if
  :: e > 0 && (e <= NR + NQ || e == EFIN) -> d_step { due[e]++; ndue++ }   /* Lambda's retry; the engine's for a step */
  :: else -> skip
  fi;

done:
  if
  :: probe -> goto fin
  :: else -> skip
  fi;
  d_step {
    e = 0; r = 0; c = 0; q = 0; verdict = 0; lv = 0; lc = 0; lmeta = 0;
    lkc = 0; base = 0; prv = 0; rec = 0; p = 0; wh = 0; ws = 0; wu = 0; dirty = 0; ok = 0; shd = 0; i = 0; sok = 0;
    keep = 0; cand = 0; k = 0
  }
  goto pick;

finish:
  fn_done = 1;
fin:
  skip
}

#ifdef REPAIR_PROC
/* The repair pass as a function of its own (VerifyFunction, or the CLI), concurrent with Fn. */
proctype Repair() {
  bool probe, ok; byte rv, rs, rc, ra, lu, luv; bool lh, ls;
  byte n = NREPAIR;
  do
  :: n > 0 -> repair_pass(); n--
  :: else -> break
  od
}
#endif

/* A cutover PUT of an invocation that died lands late (never landing is the crash before it). */
proctype Net() {
  do
  :: d_step {
       pend ->
       if
       :: IFMATCH(pd_v) -> cutover(pd_r, pd_c, pd_q, pd_p, pd_rec); printf("net: the late cutover of %d lands: live at place %d (t=%d)\n", pd_r, pd_p, now)
       :: else -> printf("net: the late cutover of %d arrives and is refused (412)\n", pd_r)
       fi;
       pend = 0; pd_r = 0; pd_c = 0; pd_q = 0; pd_p = 0; pd_v = 0; pd_rec = 0;
       check() }
  :: fn_done && !pend -> break
  od
}

proctype Clock() {
  do
  :: d_step { now < MAXT -> now++; printf("clock: t=%d\n", now); check() }
  :: break
  od
}

/* An operator re-puts the live manifest (same bytes) without its metadata; and deletes a live file. */
proctype Operator() {
#ifndef NO_REPUT
  do
  :: d_step { m_c != 0 ->
       m_meta = 0; m_rel = 0; m_seq = 0; m_req = 0; m_recent = 0; m_t = now; m_ver++;
       printf("operator: re-puts staticfiles.json without metadata (t=%d)\n", now); check() }; break
  :: break
  od;
#endif
#ifndef NO_DRIFT
  do
  :: d_step { m_c != 0 && H[m_c] -> H[m_c] = 0; dH[m_c] = 1; printf("operator: deletes H[%d]\n", m_c); check() }; break
  :: d_step { m_c != 0 && U != 0 -> U = 0; u_ver++; dU = 1; printf("operator: deletes U\n"); check() }; break
  :: break
  od
#endif
}

/* CI, an attacker: restages release k's key with other content under the same release id. */
proctype CI() {
  byte k;
  if
  :: true -> select(k : 1 .. NR); d_step { staged[k] = CX; due[k]++; ndue++; ci_done = 1;
             printf("CI: stages content %d under release %d's key\n", CX, k); k = 0 }
  :: ci_done = 1
  fi
}

/* An app pinned to release r until now + PINLEN (static_deploy/storage.py): it declares its pin,
 * then starts only if r's record is there and r's files are not being retired. */
proctype App() {
  byte r;
  select(r : 1 .. NR);
  d_step { pin_e[r] = now + PINLEN; printf("app: pins release %d until t=%d\n", r, pin_e[r]); check() }
  d_step {
    if
    :: h_c[r] != 0 && COMPLETE(r) && !retired[h_c[r]] -> app_run[r] = 1; printf("app: starts on release %d\n", r)
    :: else -> printf("app: refuses to start on release %d\n", r)
    fi;
    check(); r = 0 }
}

init {
  d_step {
    ck = 1;
    do :: ck <= NR -> staged[ck] = ck; due[ck] = 1; ck++ :: else -> break od;
#ifdef REBUILD
    staged[NR] = 2;          /* release NR is a rebuild of release 2: a new id with the same files */
#endif
#ifndef NO_REQUESTS
    due[NR + 1] = 1; due[NR + 2] = 1;
#endif
    due[EPRUNE] = NPRUNE;
#ifdef REPAIR_PROC
    due[EREPAIR] = 0;
#else
    due[EREPAIR] = NREPAIR;
#endif
    ndue = due[NR + 1] + due[NR + 2] + due[EPRUNE] + due[EREPAIR] + NR;
    ck = 0
  }
#ifdef BAD_MEMBER
  if :: skip :: x_bad = 1; printf("release %d's artifact holds a bad member\n", SHR) fi;
#endif
  atomic {
    run Fn(0); run Net(); run Clock();
#ifndef NO_OPERATOR
    run Operator();
#endif
#ifndef NO_CI
    run CI();
#else
    ci_done = 1;
#endif
#ifndef NO_APP
    run App();
#endif
#ifdef REPAIR_PROC
    run Repair();
#endif
#ifdef SHARDED
    run Shard();
#endif
  }
  (_nr_pr == 1);
  /* I4 (progress): with everything else stopped, a fresh release deployed once goes live, whole */
  /* I4 (progress): a deploy left in flight (its claim above the live place) goes live when delivered
   * again alone, without faults: a crash never turns a new release into an older one (a rebuild
   * of the live files has nothing to cut over) */
  d_step {
    ck = m_seq + 1;
    do
    :: m_meta && j_rel[ck] != 0 ->
       if
       :: p2r == 0 && j_q[ck] == 0 && staged[j_rel[ck]] == j_c[ck] && j_rel[ck] != m_rel && !(x_bad && j_rel[ck] == SHR) -> p2r = j_rel[ck]
       :: else -> skip
       fi;
       ck++
    :: else -> break
    od;
    ck = 0
  }
  if
  :: p2r != 0 && !NO_P2 ->
     printf("\nprobe: release %d, in flight, delivered again alone\n", p2r);
     run Fn(2);
     (_nr_pr == 1);
     assert(m_c == staged[p2r])        /* its files are live (it cut over, or they already were) */
  :: else -> skip
  fi;
  printf("\nprobe: a fresh release, alone, without faults\n");
  run Fn(1);
  (_nr_pr == 1);
  assert(g_live == PROBE && m_c == CP && j_rel[g_place + 1] == 0 && U == UB(CP) && H[CP] && S)
}
