// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.24;

/// @title Controller: the devnet's contract registry and system pause switch.
/// @notice Contracts are registered under keccak256(name), the same ids Livepeer's mainnet
/// Controller uses, so clients resolve devnet and Arbitrum One addresses the same way.
/// Mainnet calls the registry setter setContractInfo (with a git commit hash); the devnet
/// stand-in takes only the id and the address.
contract Controller {
    address public owner;
    bool public paused;
    mapping(bytes32 => address) private registry;

    event SetContract(bytes32 indexed id, address contractAddress);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Pause();
    event Unpause();

    modifier onlyOwner() {
        require(msg.sender == owner, "caller is not the Controller owner");
        _;
    }

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    /// @notice Register (or replace, or with address 0 remove) the contract stored under `id`.
    function setContract(bytes32 id, address contractAddress) external onlyOwner {
        registry[id] = contractAddress;
        emit SetContract(id, contractAddress);
    }

    /// @notice The contract registered under `id`, or address 0 when none is.
    function getContract(bytes32 id) external view returns (address) {
        return registry[id];
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "new owner is the null address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Stop every state-changing TicketBroker entry point (as mainnet's pause does).
    function pause() external onlyOwner {
        require(!paused, "system is already paused");
        paused = true;
        emit Pause();
    }

    function unpause() external onlyOwner {
        require(paused, "system is not paused");
        paused = false;
        emit Unpause();
    }
}
