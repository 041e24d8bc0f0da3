# configs.sh — sourced by bench/run.sh and bench/threads.sh: the name of
# benchmark configuration a, b or c, padded for a table.
config_name() {
    case $1 in
    a) printf '%-23s' "a  ELBO k=1,  batch 20" ;;
    b) printf '%-23s' "b  ELBO k=1,  batch 128" ;;
    c) printf '%-23s' "c  IWAE k=50, batch 20" ;;
    esac
}
