// Strided batched matmul: C[z][m, n] = alpha * sum_k A[z][m, k] * B[z][k, n].
//
// Every operand is addressed by an offset and (batch, row, column) strides, so a transposed or
// channel-sliced view (q, k and v inside one packed [B, 3C, N] tensor) is read in place with no
// copy. Used by attention and by the bench's ceiling measurement.
// Each operand is stored as its own type, A_T, B_T and C_T (aliases the host declares: f32, or
// f16 at precision "f16"; attention's scores are f32 at every precision); the sums are f32.

// Packed on the host by MATMUL_PARAMS in src/backends/webgpu/gemm.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  a_off: u32, a_sb: u32, a_sm: u32, a_sk: u32,
  b_off: u32, b_sb: u32, b_sk: u32, b_sn: u32,
  c_off: u32, c_sb: u32, c_sm: u32, c_sn: u32,
}

@group(0) @binding(0) var<storage, read> a: array<A_T>;
@group(0) @binding(1) var<storage, read> b: array<B_T>;
@group(0) @binding(2) var<storage, read_write> c: array<C_T>;
@group(0) @binding(3) var<uniform> p: Params;

fn gemm_dims() -> vec3<u32> {
  return vec3<u32>(p.M, p.N, p.K);
}

fn load_a(batch: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) {
    return 0.0;
  }
  return f32(a[p.a_off + batch * p.a_sb + m * p.a_sm + k * p.a_sk]);
}

struct Column {
  valid: bool,
  base: u32,
}

fn column(batch: u32, n: u32) -> Column {
  return Column(n < p.N, p.b_off + batch * p.b_sb + n * p.b_sn);
}

fn load_b(col: Column, k: u32) -> f32 {
  if (!col.valid || k >= p.K) {
    return 0.0;
  }
  return f32(b[col.base + k * p.b_sk]);
}

fn store_c(batch: u32, m: u32, n: u32, acc: f32) {
  c[p.c_off + batch * p.c_sb + m * p.c_sm + n * p.c_sn] = C_T(p.alpha * acc);
}
