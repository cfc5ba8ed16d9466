// Tiled, register-blocked GEMM core shared by every matrix-shaped kernel.
//
// C[m, n] = sum_k A[m, k] * B[k, n], computed one BM x BN tile per workgroup. Operand loads and
// the output store are not here: each kernel that includes this core supplies
//   fn load_a(batch: u32, m: u32, k: u32) -> f32   (zero outside the matrix)
//   struct Column; fn column(batch: u32, n: u32) -> Column
//   fn load_b(col: Column, k: u32) -> f32           (zero outside the matrix)
//   fn store_c(batch: u32, m: u32, n: u32, acc: f32)
//   fn gemm_dims() -> vec3<u32>                     (M, N, K)
// Each thread loads B for one fixed column of the tile (the host keeps THREADS a multiple of
// BN), so whatever a column costs to address (an im2col position: batch, frame, row, column)
// is worked out once per tile in `column`, not once per k.
// so convolution (implicit im2col, fused GroupNorm+SiLU, bias and residual) and strided batched
// matmul share one inner loop. Tile sizes are pipeline constants prepended by the host:
//   WG_M, WG_N: threads per workgroup along m and n; TM, TN: outputs per thread; BK: k step.
// Threads own rows m = ty + WG_M * i and columns n = tx + WG_N * j (strided, not blocked), so
// neighbouring threads store neighbouring n, which is the contiguous axis of every output here.

const BM: u32 = WG_M * TM;
const BN: u32 = WG_N * TN;
const THREADS: u32 = WG_M * WG_N;

var<workgroup> tile_a: array<f32, BK * BM>; // [k][m]
var<workgroup> tile_b: array<f32, BK * BN>; // [k][n]

@compute @workgroup_size(WG_N, WG_M, 1)
fn main(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let dims = gemm_dims();
  let tiles_n = (dims.y + BN - 1u) / BN;
  // Tiles are numbered over x and y so that dispatches stay under the per-dimension limit.
  let tile = wid.x + wid.y * nwg.x;
  let tiles_m = (dims.x + BM - 1u) / BM;
  if (tile >= tiles_n * tiles_m) {
    return;
  }
  let m0 = (tile / tiles_n) * BM;
  let n0 = (tile % tiles_n) * BN;
  let batch = wid.z;
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * WG_N + tx;

  var acc: array<f32, TM * TN>;
  for (var i = 0u; i < TM * TN; i++) {
    acc[i] = 0.0;
  }
  let b_col = tid % BN;
  let b_row = tid / BN;
  let col = column(batch, n0 + b_col);
  var a_reg: array<f32, TM>;
  var b_reg: array<f32, TN>;

  for (var k0 = 0u; k0 < dims.z; k0 += BK) {
    // A is read k-fastest (its rows are contiguous in k for weights), B n-fastest.
    for (var i = tid; i < BK * BM; i += THREADS) {
      let mm = i / BK;
      let kk = i % BK;
      tile_a[kk * BM + mm] = load_a(batch, m0 + mm, k0 + kk);
    }
    for (var kk = b_row; kk < BK; kk += THREADS / BN) {
      tile_b[kk * BN + b_col] = load_b(col, k0 + kk);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      for (var i = 0u; i < TM; i++) {
        a_reg[i] = tile_a[kk * BM + ty + WG_M * i];
      }
      for (var j = 0u; j < TN; j++) {
        b_reg[j] = tile_b[kk * BN + tx + WG_N * j];
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
          acc[i * TN + j] = fma(a_reg[i], b_reg[j], acc[i * TN + j]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty + WG_M * i;
    if (m >= dims.x) {
      continue;
    }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + tx + WG_N * j;
      if (n < dims.y) {
        store_c(batch, m, n, acc[i * TN + j]);
      }
    }
  }
}
