#pragma once

// Distribution functions behind the p-values of kiln_drift, written to agree with SciPy 1.13
// (scipy.special / scipy.stats) to about 1e-12 relative in the ranges our tests cover.
//
// All functions are pure, thread-safe and never throw. Arguments outside the documented domain
// give NaN.

#include <cstdint>

namespace kiln::drift::special {

// Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a), a > 0, x >= 0.
// Series for x < a + 1, Lentz's continued fraction otherwise (Numerical Recipes §6.2; Cephes
// igamc). Q(a, +inf) = 0.
double gamma_q(double a, double x);

// Survival function of the chi-square distribution with `df` > 0 degrees of freedom:
// P(X > x) = Q(df/2, x/2) (scipy.stats.chi2.sf).
double chi2_sf(double x, double df);

// Standard normal CDF Φ(x) = erfc(-x/√2)/2 (scipy.special.ndtr).
double normal_cdf(double x);

// One-sided exact Smirnov survival P(D+_n >= x) (Birnbaum & Tingey 1951;
// scipy.special.smirnov). n >= 1, x in [0, 1].
double smirnov_sf(int64_t n, double x);

// Two-sided one-sample Kolmogorov–Smirnov survival P(D_n >= x) for sample size n >= 1
// (scipy.stats.kstwo.sf, i.e. scipy.stats._ksstats._kolmogn(n, x, cdf=False)). Follows Simard &
// L'Ecuyer, "Computing the Two-Sided Kolmogorov–Smirnov Distribution", J. Stat. Softw. 39(11),
// 2011: Ruben–Gambino for the extremes, 2·smirnov for large n·x², the Durbin matrix
// (Marsaglia–Tsang–Wang 2003), Pomeranz (1974) and the Pelz–Good (1976) asymptotic series in
// between, with SciPy's region boundaries.
double kolmogorov_sf(int64_t n, double x);

}  // namespace kiln::drift::special
