/* Every parameter gradient against central finite differences, for ELBO
   k = 1, ELBO k = 5 and IWAE k = 5, with each activation; then the other
   parts: the Gaussian likelihood (learned and fixed sigma, sigmoid and
   linear mean), the mixture prior and the analytic KL, each with the
   objectives it allows; then conv and conv-transpose networks, with
   strides, padding (pad % stride != 0 too), output padding, views,
   several channels and the isotropic posterior. */

#include "../vae.c"
#include "check.h"

enum { DMAX = 128, Z = 3, B = 4, KMAX = 5 };

static double loss_at(vae *m, const float *x, const float *eps)
{
    float bound = 0.0f;
    vae_status s = vae_gradient(m, x, B, eps, &bound);
    if (s != VAE_OK) {
        printf("vae_gradient failed: %s\n", vae_error(m));
        return NAN;
    }
    /* the gradient is the objective's: the bound, or with beta the
       beta-weighted ELBO */
    return -vae_last_objective(m);
}

/* The parts besides the layers, as configuration text. */
typedef struct {
    const char *likelihood, *sigma, *prior, *kl, *beta;
} parts;

static const parts plain = {"bernoulli", "0", "normal", "mc", "1"};

/* The network: an MLP of 10 values when rows is 0, else images of rows x
   cols x channels through the layers described. */
typedef struct {
    int rows, cols, channels;
    const char *encoder, *decoder, *posterior, *mean;
} net;

static const net mlp = {0, 0, 0, "", "", "diagonal", "sigmoid"};

static void check_net(vae_activation act, vae_objective obj, int k, parts p, net nw)
{
    static const char *const act_name[] = {"tanh", "relu", "leakyrelu"};
    vae_config cfg;
    vae *m;
    float x[B * DMAX], eps[B * KMAX * Z];
    int D = nw.rows ? nw.rows * nw.cols * nw.channels : 10;
    vae_rng r;
    int i, t, bad = 0, one_sided = 0, total = 0;
    char what[160], label[96];
    vae_config_init(&cfg);
    cfg.input_dim = D;
    cfg.latent_dim = Z;
    cfg.n_hidden = 2;
    cfg.hidden[0] = 7;
    cfg.hidden[1] = 5;
    cfg.activation = act;
    cfg.objective = obj;
    cfg.k = k;
    cfg.max_batch = B;
    cfg.seed = 7;
    vae_config_set(&cfg, "likelihood", p.likelihood, NULL, 0);
    vae_config_set(&cfg, "sigma", p.sigma, NULL, 0);
    vae_config_set(&cfg, "prior", p.prior, NULL, 0);
    vae_config_set(&cfg, "components", "3", NULL, 0);
    vae_config_set(&cfg, "kl", p.kl, NULL, 0);
    vae_config_set(&cfg, "beta", p.beta, NULL, 0);
    cfg.image_rows = nw.rows;
    cfg.image_cols = nw.cols;
    cfg.image_channels = nw.channels;
    CHECK(vae_config_set(&cfg, "encoder", nw.encoder, NULL, 0) == VAE_OK &&
              vae_config_set(&cfg, "decoder", nw.decoder, NULL, 0) == VAE_OK &&
              vae_config_set(&cfg, "posterior", nw.posterior, NULL, 0) == VAE_OK &&
              vae_config_set(&cfg, "mean", nw.mean, NULL, 0) == VAE_OK,
          "network settings refused");
    snprintf(label, sizeof label, "%s %s k=%d %s %s %s %s beta %s%s%s", act_name[act], obj == VAE_IWAE ? "iwae" : "elbo",
             k, p.likelihood, p.sigma, p.prior, p.kl, p.beta, nw.rows ? " conv " : "", nw.rows ? nw.posterior : "");
    if (vae_create(&m, &cfg, NULL) != VAE_OK) {
        CHECK(0, "create: %s", vae_error(m));
        vae_free(m);
        return;
    }
    vae_rng_seed(&r, 11);
    /* binary pixels for Bernoulli, grey ones for the Gaussian */
    for (i = 0; i < B * D; i++)
        x[i] = cfg.likelihood == VAE_GAUSSIAN ? (float)vae_rng_uniform(&r) : vae_rng_uniform(&r) < 0.4 ? 1.0f : 0.0f;
    vae_rng_normal(&r, eps, (size_t)B * k * Z);

    for (t = 0; t < vae_tensor_count(m); t++) {
        const char *name;
        int ndim, shape[VAE_MAX_DIMS];
        size_t n, j;
        float *w, *g;
        double gmax = 0.0;
        vae_tensor_info(m, t, &name, &ndim, shape);
        n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
        w = malloc(n * sizeof *w);
        g = malloc(n * sizeof *g);
        loss_at(m, x, eps);
        vae_get_gradient(m, name, g, n);
        vae_get_tensor(m, name, w, n);
        for (j = 0; j < n; j++) {
            const float h = 1e-2f;
            float keep = w[j];
            double up, down, mid, central, fwd, bwd, tol;
            w[j] = keep + h;
            vae_set_tensor(m, name, w, n);
            up = loss_at(m, x, eps);
            w[j] = keep - h;
            vae_set_tensor(m, name, w, n);
            down = loss_at(m, x, eps);
            w[j] = keep;
            vae_set_tensor(m, name, w, n);
            mid = loss_at(m, x, eps);
            central = (up - down) / (2.0 * h);
            fwd = (up - mid) / h;
            bwd = (mid - down) / h;
            tol = 2e-3 + 2e-2 * fabs(central);
            total++;
            if (fabs(g[j] - central) <= tol)
                ;
            else if (act != VAE_TANH && (fabs(g[j] - fwd) <= 5 * tol || fabs(g[j] - bwd) <= 5 * tol))
                /* A ReLU kink inside [w - h, w + h] spoils the central
                   difference; the one-sided difference on the kink-free
                   side must still agree. */
                one_sided++;
            else if (bad++ < 5)
                printf("  %s[%lu]: analytic %.6g, central %.6g\n", name, (unsigned long)j, g[j], central);
            if (fabs(g[j]) > gmax)
                gmax = fabs(g[j]);
        }
        snprintf(what, sizeof what, "%s: %s gradient is not all zero", label, name);
        CHECK(gmax > 1e-4, "%s (max %g)", what, gmax);
        free(w);
        free(g);
    }
    CHECK(bad == 0, "%s: %d of %d gradients differ from finite differences", label, bad, total);
    /* a conv weight moves many pixels, each a ReLU that may cross its kink */
    CHECK(one_sided * (nw.rows ? 8 : 20) <= total, "%s: %d of %d needed one-sided differences", label, one_sided,
          total);
    printf("%-40s %d parameters checked, %d by one-sided differences\n", label, total, one_sided);
    vae_free(m);
}

static void check_case(vae_activation act, vae_objective obj, int k, parts p)
{
    check_net(act, obj, k, p, mlp);
}

int main(void)
{
    static const parts gaussian = {"gaussian", "0", "normal", "mc", "1"};
    static const parts gaussian_fixed = {"gaussian", "0.4", "normal", "mc", "1"};
    static const parts mog = {"bernoulli", "0", "mog", "mc", "1"};
    static const parts analytic = {"bernoulli", "0", "normal", "analytic", "1"};
    static const parts gaussian_mog = {"gaussian", "0", "mog", "mc", "1"};
    static const parts beta = {"bernoulli", "0", "normal", "mc", "0.3"};
    static const parts beta_analytic = {"gaussian", "0", "normal", "analytic", "2.5"};
    static const parts beta_mog = {"bernoulli", "0", "mog", "mc", "0.5"};
    int a;
    for (a = VAE_TANH; a <= VAE_LEAKY_RELU; a++) {
        check_case((vae_activation)a, VAE_ELBO, 1, plain);
        check_case((vae_activation)a, VAE_ELBO, 5, plain);
        check_case((vae_activation)a, VAE_IWAE, 5, plain);
    }
    check_case(VAE_TANH, VAE_ELBO, 1, gaussian);
    check_case(VAE_TANH, VAE_IWAE, 5, gaussian);
    check_case(VAE_TANH, VAE_ELBO, 5, gaussian_fixed);
    check_case(VAE_TANH, VAE_ELBO, 5, mog);
    check_case(VAE_LEAKY_RELU, VAE_IWAE, 5, mog);
    check_case(VAE_TANH, VAE_ELBO, 1, analytic);
    check_case(VAE_RELU, VAE_ELBO, 5, analytic);
    check_case(VAE_TANH, VAE_IWAE, 5, gaussian_mog);
    /* beta: the objective's gradient, which the step also reports */
    check_case(VAE_TANH, VAE_ELBO, 5, beta);
    check_case(VAE_RELU, VAE_ELBO, 1, beta_analytic);
    check_case(VAE_TANH, VAE_ELBO, 5, beta_mog);
    {
        /* 6x6 -> 3x3x3 -> 2x2x4; z -> 12 = 2x2x3 -> 4x4x4 -> 6x6 */
        static const net strided = {6, 6, 1, "conv 3 3 s2 p1,tanh,conv 4 2,tanh",
                                    "fc 12,tanh,view 3 2 2,convt 4 3 s2 p1 o1,tanh,convt 1 3", "diagonal", "sigmoid"};
        /* the course's model A in small: isotropic, Gaussian with a linear
           mean and learned sigma, analytic KL */
        static const net model_a = {5, 5, 1, "conv 2 3,relu,conv 2 2,relu", "fc 8,view 2 2 2,relu,convt 2 2,relu,convt 1 3",
                                    "isotropic", "linear"};
        /* two channels, stride 3 and padding 2 both ways */
        static const net odd = {7, 7, 2, "conv 3 4 s3 p2,leakyrelu", "fc 27,leakyrelu,view 3 3 3,convt 2 4 s3 p2 o1",
                                "diagonal", "sigmoid"};
        /* an fc reading a conv's output, three channels out */
        static const net mixed = {4, 4, 3, "conv 2 3 p1,tanh,fc 5,tanh", "fc 12,tanh,view 3 2 2,convt 3 3 s2 p1 o1",
                                  "isotropic", "sigmoid"};
        static const parts gaussian_analytic = {"gaussian", "0", "normal", "analytic", "1"};
        check_net(VAE_TANH, VAE_ELBO, 1, plain, strided);
        check_net(VAE_TANH, VAE_IWAE, 5, plain, strided);
        check_net(VAE_RELU, VAE_ELBO, 5, gaussian_analytic, model_a);
        check_net(VAE_LEAKY_RELU, VAE_IWAE, 5, plain, odd);
        check_net(VAE_TANH, VAE_ELBO, 5, gaussian, mixed);
    }
    return check_summary();
}
