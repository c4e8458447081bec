//! Hot loops compiled twice: for AVX2 when the CPU has it (8 f32 lanes in one register
//! instead of two SSE halves) and for the baseline x86-64 target the crate is built for.
//! The code is the same and FMA is not enabled, so nothing fuses differently and the
//! results are bit-identical either way.

/// `with_avx2!(pub fn name(a: A, b: B) -> R = body)` defines `name`, which runs `body`
/// (an `#[inline(always)]` function, so it is compiled into each copy) through the AVX2
/// copy when the CPU supports it.
macro_rules! with_avx2 {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident) => {
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn wide($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, checked just above.
                    return unsafe { wide($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use with_avx2;
