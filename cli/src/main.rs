fn main() {
    println!("avm-jit");
}
