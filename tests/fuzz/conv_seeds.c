/* conv_seeds.c — writes the conv checkpoints of corpus/checkpoint/: two
   small networks that between them have every layer kind, strides,
   padding, output padding, a view, the isotropic head and the linear
   Gaussian mean, so that mutations reach the network descriptions and
   the 4-D tensors. Run from the repository root:

       cc -std=c99 -I. tests/fuzz/conv_seeds.c -lm -o build/conv_seeds && build/conv_seeds */
#include "../../vae.c"

static int seed(const char *path, const char *encoder, const char *decoder, int isotropic, int gaussian)
{
    vae_config cfg;
    vae *m;
    char why[160];
    int ok;
    vae_config_init(&cfg);
    cfg.input_dim = 36;
    cfg.image_rows = cfg.image_cols = 6;
    cfg.image_channels = 1;
    cfg.latent_dim = 2;
    cfg.max_batch = 2;
    cfg.k = 2;
    cfg.posterior = isotropic ? VAE_POSTERIOR_ISOTROPIC : VAE_POSTERIOR_DIAGONAL;
    cfg.likelihood = gaussian ? VAE_GAUSSIAN : VAE_BERNOULLI;
    cfg.mean = gaussian ? VAE_MEAN_LINEAR : VAE_MEAN_SIGMOID;
    if (vae_config_set(&cfg, "encoder", encoder, why, sizeof why) != VAE_OK ||
        vae_config_set(&cfg, "decoder", decoder, why, sizeof why) != VAE_OK) {
        fprintf(stderr, "%s\n", why);
        return 1;
    }
    ok = vae_create(&m, &cfg, NULL) == VAE_OK && vae_save(m, path) == VAE_OK;
    if (!ok)
        fprintf(stderr, "%s: %s\n", path, vae_error(m));
    vae_free(m);
    return !ok;
}

int main(void)
{
    return seed("tests/fuzz/corpus/checkpoint/conv.vae", "conv 2 3 s2 p1,relu,conv 2 2,tanh",
                "fc 8,tanh,view 2 2 2,convt 2 3 s2 p1 o1,relu,convt 1 3", 0, 0) |
           seed("tests/fuzz/corpus/checkpoint/conv-isotropic-linear.vae", "conv 2 3,leakyrelu,fc 4",
                "fc 18,view 2 3 3,relu,convt 1 4", 1, 1);
}
