// Elementwise functions shared by the unary forward and backward shaders.

// erf with |error| < 1.2e-7 (Chebyshev fit of erfc, Numerical Recipes 6.2).
float erf_approx(float x) {
  float z = abs(x);
  float t = 1.0 / (1.0 + 0.5 * z);
  float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0.0 ? 1.0 - r : r - 1.0;
}

// Softplus without overflow: log(1 + e^x) = max(x, 0) + log(1 + e^-|x|).
float softplus(float x) { return max(x, 0.0) + log(1.0 + exp(-abs(x))); }

float sigmoid(float x) { return x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

// tanh from exp of a negative argument only, so large |x| cannot overflow.
float tanh_safe(float x) {
  float e = exp(-2.0 * abs(x));
  float t = (1.0 - e) / (1.0 + e);
  return x >= 0.0 ? t : -t;
}
